// A desk change in the thread (assigned, transferred, a status change): one quiet centred line,
// worded by the server (`text`).
import { Text } from "@mantine/core";
import type { Activity } from "../types";

export function timeOf(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function ActivityLine({ activity }: { activity: Activity }) {
  return (
    <Text data-testid="activity" data-type={activity.type} size="xs" c="dimmed" ta="center" py={2}>
      {activity.text} · {timeOf(activity.at)}
    </Text>
  );
}
