// A private note among the messages: staff only, so it must never look like something the
// customer can read (yellow, dashed, labelled, centred rather than on either side).
import { Group, Paper, Text } from "@mantine/core";
import type { Note } from "../types";
import { timeOf } from "./ActivityLine";

export function NoteItem({ note }: { note: Note }) {
  return (
    <Paper
      data-testid="note"
      role="note"
      aria-label={`Private note by ${note.author.email}`}
      px="sm"
      py={6}
      radius="md"
      mx="auto"
      w="90%"
      bg="yellow.0"
      style={{ border: "1px dashed var(--mantine-color-yellow-6)" }}
    >
      <Group justify="space-between" gap={4} wrap="nowrap">
        <Text size="xs" fw={600} c="yellow.9" style={{ wordBreak: "break-all" }}>
          <LockIcon /> Private note · {note.author.email}
        </Text>
        <Text size="xs" c="dimmed" style={{ flexShrink: 0 }}>
          {timeOf(note.createdAt)}
        </Text>
      </Group>
      <Text size="sm" style={{ whiteSpace: "pre-wrap", wordBreak: "break-word" }}>
        {note.text}
      </Text>
    </Paper>
  );
}

// Drawn, not an emoji: a machine without an emoji font shows a box for one.
function LockIcon() {
  return (
    <svg width="10" height="11" viewBox="0 0 10 11" aria-hidden="true" style={{ verticalAlign: "-1px" }}>
      <rect x="1" y="5" width="8" height="6" rx="1" fill="currentColor" />
      <path d="M3 5V3.5a2 2 0 0 1 4 0V5" fill="none" stroke="currentColor" strokeWidth="1.4" />
    </svg>
  );
}
