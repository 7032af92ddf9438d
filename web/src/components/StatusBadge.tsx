import { Badge } from "@mantine/core";
import type { Status } from "../types";

const COLORS: Record<Status, string> = { open: "green", pending: "yellow", snoozed: "grape", resolved: "gray" };

export function StatusBadge({ status }: { status?: Status }) {
  if (!status) return null;
  return (
    <Badge color={COLORS[status]} variant="light" data-testid="status">
      {status}
    </Badge>
  );
}
