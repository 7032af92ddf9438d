// Handing a conversation over: to another team's queue with an optional note for that team
// (POST /conversations/:id/transfer {teamId, note}; the note is a private note), or to another
// agent / back to the queue (PUT /conversations/:id/assignee {assigneeId}: admins, or its
// assignee to a member of its team).
import { Button, Group, Modal, Select, Stack, Textarea } from "@mantine/core";
import { useEffect, useState } from "react";
import { api } from "../api";
import { ActionForm } from "../components/Action";
import type { Agent, Conversation, Team, User } from "../types";

type Act = (method: string, path: string, body?: unknown) => Promise<boolean>;

// Mantine's Select holds strings: this stands for "nobody" (assigneeId null).
const UNASSIGNED = "unassigned";

export function TransferDialog({ conversation, teams, act }: { conversation: Conversation; teams: Team[]; act: Act }) {
  const [open, setOpen] = useState(false);
  const [teamId, setTeamId] = useState<string | null>(null);
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const others = teams.filter((t) => t._id !== conversation.team?._id);

  async function transfer() {
    if (!teamId) return;
    setBusy(true);
    const text = note.trim();
    const done = await act("POST", `/conversations/${conversation._id}/transfer`, text ? { teamId, note: text } : { teamId });
    setBusy(false);
    if (done) {
      setOpen(false);
      setTeamId(null);
      setNote("");
    }
  }

  return (
    <>
      <Button size="xs" variant="default" onClick={() => setOpen(true)} disabled={others.length === 0}>
        Transfer
      </Button>
      <Modal opened={open} onClose={() => setOpen(false)} title="Transfer to another team">
        <ActionForm onSubmit={() => void transfer()}>
          <Stack gap="sm">
            <Select
              label="Team"
              required
              data-autofocus
              allowDeselect={false}
              data={others.map((t) => ({ value: t._id, label: t.name }))}
              value={teamId}
              onChange={setTeamId}
            />
            <Textarea
              label="Note for the new team (optional)"
              description="a private note: the customer never sees it"
              autosize
              minRows={2}
              value={note}
              onChange={(e) => setNote(e.currentTarget.value)}
            />
            <Group justify="flex-end">
              <Button variant="default" onClick={() => setOpen(false)}>
                Cancel
              </Button>
              <Button type="submit" loading={busy} disabled={!teamId}>
                Transfer
              </Button>
            </Group>
          </Stack>
        </ActionForm>
      </Modal>
    </>
  );
}

/** Reassign or unassign: shown to admins and to its assignee (as the API allows them). */
export function AssigneeSelect({ conversation, me, act }: { conversation: Conversation; me: User; act: Act }) {
  const [agents, setAgents] = useState<Agent[]>([]);
  const mine = conversation.assignee?._id === me.id;
  const allowed = me.role === "admin" || mine;

  useEffect(() => {
    if (!allowed) return;
    api<Agent[]>("GET", "/agents")
      .then(setAgents)
      .catch(() => setAgents([]));
  }, [allowed, conversation._id, conversation.team?._id]);

  if (!allowed) return null;
  const teamId = conversation.team?._id;
  // Its assignee may hand it only to a member of its team; admins to anyone on the staff.
  const candidates = agents.filter((a) => me.role === "admin" || (teamId && a.teams?.includes(teamId)));
  const current = conversation.assignee?._id ?? UNASSIGNED;
  const data = [
    { value: UNASSIGNED, label: "Unassigned (back to the queue)" },
    ...candidates.map((a) => ({ value: a._id, label: a._id === me.id ? `${a.email} (you)` : a.email })),
  ];
  if (current !== UNASSIGNED && !data.some((d) => d.value === current))
    data.push({ value: current, label: conversation.assignee?.email ?? current });
  return (
    <Select
      size="xs"
      w={230}
      aria-label="Assignee"
      searchable
      allowDeselect={false}
      data={data}
      value={current}
      onChange={(value) =>
        value &&
        value !== current &&
        void act("PUT", `/conversations/${conversation._id}/assignee`, {
          assigneeId: value === UNASSIGNED ? null : value,
        })
      }
    />
  );
}
