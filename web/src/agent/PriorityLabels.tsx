// A conversation's priority and labels. Labels are sent as a change (added, removed), so two
// agents labelling at once both keep theirs.
import { Badge, Group, Select, TagsInput } from "@mantine/core";
import { useEffect, useState } from "react";
import { PRIORITIES, type Conversation, type Priority } from "../types";

const NONE = "none";
const COLORS: Record<Priority, string> = { low: "gray", medium: "blue", high: "orange", urgent: "red" };

export function PriorityBadge({ priority }: { priority?: Priority | null }) {
  if (!priority) return null;
  return (
    <Badge size="sm" color={COLORS[priority]} variant="outline" data-testid="priority">
      {priority}
    </Badge>
  );
}

interface Props {
  conversation: Conversation;
  /** PATCH /conversations/:id with this body; resolves false when it was refused. */
  patch: (body: object) => Promise<boolean>;
}

export function PriorityLabels({ conversation, patch }: Props) {
  const stored = conversation.labels ?? [];
  const [labels, setLabels] = useState<string[]>(stored);
  const storedKey = stored.join("\n");
  useEffect(() => setLabels(storedKey ? storedKey.split("\n") : []), [storedKey, conversation._id]);

  async function changeLabels(next: string[]) {
    const clean = [...new Set(next.map((l) => l.trim()).filter(Boolean))];
    const addLabels = clean.filter((l) => !stored.includes(l));
    const removeLabels = stored.filter((l) => !clean.includes(l));
    setLabels(clean);
    if (addLabels.length + removeLabels.length === 0) return;
    if (!(await patch({ addLabels, removeLabels }))) setLabels(stored);
  }

  return (
    <Group gap="xs" wrap="wrap" align="flex-start">
      <Select
        size="xs"
        w={130}
        aria-label="Priority"
        allowDeselect={false}
        value={conversation.priority ?? NONE}
        data={[{ value: NONE, label: "No priority" }, ...PRIORITIES.map((p) => ({ value: p, label: p }))]}
        onChange={(value) => value && void patch({ priority: value === NONE ? null : value })}
      />
      <TagsInput
        size="xs"
        aria-label="Labels"
        placeholder={labels.length ? "" : "Add a label, Enter"}
        style={{ flex: 1, minWidth: 180 }}
        value={labels}
        onChange={(next) => void changeLabels(next)}
        clearable={false}
      />
    </Group>
  );
}
