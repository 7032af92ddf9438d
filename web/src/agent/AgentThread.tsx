// The agent's thread: the conversation's messages with its private notes and activity among
// them, and a composer that writes either a reply or a private note, with canned responses.
import { Button, Group, SegmentedControl, Stack } from "@mantine/core";
import { useCallback, useMemo, useState, type ReactNode } from "react";
import type { Socket } from "socket.io-client";
import { Thread } from "../components/Thread";
import type { ComposeOptions } from "../components/threadSlots";
import type { User } from "../types";
import { CannedManager } from "./CannedManager";
import { CannedPicker } from "./CannedPicker";
import { useDeskTimeline } from "./useDeskTimeline";

type Mode = "reply" | "note";

interface Props {
  conversationId: string;
  me: User;
  socket: Socket;
  header: ReactNode;
  readOnlyReason: string | null;
  onError: (message: unknown) => void;
}

export function AgentThread({ conversationId, me, socket, header, readOnlyReason, onError }: Props) {
  const [mode, setMode] = useState<Mode>("reply");
  const [managing, setManaging] = useState(false);
  const report = useCallback((e: unknown) => onError(e), [onError]);
  const { items, addNote } = useDeskTimeline(conversationId, socket, report);

  const compose = useMemo<ComposeOptions>(
    () => ({
      extras: (draft) => (
        <Stack gap={4}>
          <Group gap="xs" justify="space-between">
            <SegmentedControl
              size="xs"
              aria-label="Write"
              data-testid="compose-mode"
              value={mode}
              onChange={(value) => setMode(value as Mode)}
              data={[
                { value: "reply", label: "Reply" },
                { value: "note", label: "Private note" },
              ]}
            />
            <Button size="compact-xs" variant="subtle" onClick={() => setManaging(true)}>
              Canned responses…
            </Button>
          </Group>
          <CannedPicker draft={draft} />
        </Stack>
      ),
      ...(mode === "note"
        ? {
            send: addNote,
            placeholder: "A private note: only staff see it",
            background: "var(--mantine-color-yellow-0)",
          }
        : { placeholder: "Write a reply… (/ for canned responses)" }),
    }),
    [mode, addNote],
  );

  return (
    <>
      <CannedManager me={me} opened={managing} onClose={() => setManaging(false)} />
      <Thread
        conversationId={conversationId}
        me={me}
        socket={socket}
        header={header}
        readOnlyReason={readOnlyReason}
        timeline={items}
        compose={compose}
      />
    </>
  );
}
