// What staff do to a conversation: claim it, set its status (snoozed until a time), transfer it
// (with a note), reassign or unassign it, set its priority and labels.
import { Alert, Badge, Button, Group, Select, Stack, Text, TextInput } from "@mantine/core";
import { useEffect, useState } from "react";
import { api } from "../api";
import { StatusBadge } from "../components/StatusBadge";
import { timeOf } from "../components/ActivityLine";
import { describe } from "../components/Thread";
import type { Conversation, Status, Team, User } from "../types";
import { AssigneeSelect, TransferDialog } from "./HandOver";
import { PriorityLabels } from "./PriorityLabels";

interface Props {
  conversation: Conversation;
  me: User;
  customer: string;
  customerOnline: boolean;
  onChange: (conversation: Conversation) => void;
}

function inAnHour(): string {
  const soon = new Date(Date.now() + 3_600_000);
  soon.setSeconds(0, 0);
  return new Date(soon.getTime() - soon.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

export function ConversationActions({ conversation, me, customer, customerOnline, onChange }: Props) {
  const [teams, setTeams] = useState<Team[]>([]);
  const [snoozeUntil, setSnoozeUntil] = useState(inAnHour());
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api<Team[]>("GET", "/teams")
      .then(setTeams)
      .catch(() => setTeams([]));
  }, []);

  useEffect(() => setError(null), [conversation._id]);

  async function act(method: string, path: string, body?: unknown): Promise<boolean> {
    setError(null);
    try {
      onChange(await api<Conversation>(method, path, body));
      return true;
    } catch (e) {
      setError(describe(e));
      return false;
    }
  }

  const id = conversation._id;
  return (
    <Stack gap={6} data-testid="conversation-header">
      <Group justify="space-between" wrap="wrap">
        <Stack gap={0}>
          <Group gap={6} wrap="nowrap">
            <Text fw={600} style={{ wordBreak: "break-all" }}>
              {customer}
            </Text>
            <Badge size="xs" variant="dot" color={customerOnline ? "green" : "gray"} style={{ flexShrink: 0 }} data-testid="customer-presence">
              {customerOnline ? "online" : "offline"}
            </Badge>
          </Group>
          <Text size="sm" c="dimmed" data-testid="handler">
            {conversation.team?.name ?? "No team"} ·{" "}
            {conversation.assignee
              ? conversation.assignee._id === me.id
                ? "assigned to you"
                : `assigned to ${conversation.assignee.email}`
              : "unassigned"}
            {conversation.orderId ? ` · order ${conversation.orderId}` : ""}
          </Text>
        </Stack>
        <Group gap={4}>
          <StatusBadge status={conversation.status} />
          {conversation.status === "snoozed" && conversation.snoozedUntil && (
            <Text size="xs" c="dimmed" data-testid="snoozed-until">
              until {new Date(conversation.snoozedUntil).toLocaleDateString()} {timeOf(conversation.snoozedUntil)}
            </Text>
          )}
        </Group>
      </Group>
      <Group gap="xs" wrap="wrap">
        {!conversation.assignee && (
          <Button size="xs" onClick={() => void act("POST", `/conversations/${id}/claim`)}>
            Claim
          </Button>
        )}
        <Select
          size="xs"
          aria-label="Status"
          w={130}
          value={conversation.status ?? "open"}
          allowDeselect={false}
          // "snoozed" is set with a time, by the Snooze button.
          data={["open", "pending", "snoozed", "resolved"].map((s) => ({ value: s, label: s, disabled: s === "snoozed" }))}
          onChange={(value) => value && void act("PATCH", `/conversations/${id}/status`, { status: value as Status })}
        />
        <Group gap={4} wrap="nowrap">
          <TextInput
            size="xs"
            type="datetime-local"
            aria-label="Snooze until"
            value={snoozeUntil}
            onChange={(e) => setSnoozeUntil(e.currentTarget.value)}
          />
          <Button
            size="xs"
            variant="light"
            onClick={() =>
              void act("PATCH", `/conversations/${id}/status`, {
                status: "snoozed",
                snoozedUntil: new Date(snoozeUntil).toISOString(),
              })
            }
          >
            Snooze
          </Button>
        </Group>
        <TransferDialog conversation={conversation} teams={teams} act={act} />
        <AssigneeSelect conversation={conversation} me={me} act={act} />
      </Group>
      <PriorityLabels conversation={conversation} patch={(body) => act("PATCH", `/conversations/${id}`, body)} />
      {error && (
        <Alert color="red" role="alert" withCloseButton onClose={() => setError(null)}>
          {error}
        </Alert>
      )}
    </Stack>
  );
}
