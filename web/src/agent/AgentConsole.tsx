// The agent's face: availability, the inbox (mine / unassigned / team, live counts), and the
// open conversation with claim, reply, notes, status, transfer, priority and labels.
import { Badge, Button, Grid, Group, NavLink, Paper, ScrollArea, SegmentedControl, Select, Stack, Tabs, Text } from "@mantine/core";
import { useMediaQuery } from "@mantine/hooks";
import { useCallback, useEffect, useRef, useState } from "react";
import type { Socket } from "socket.io-client";
import { api } from "../api";
import { StatusBadge } from "../components/StatusBadge";
import { unreadOutside, useUnreadTitle } from "../components/unreadTitle";
import { describe } from "../components/Thread";
import { useOnline, useSocketEvent } from "../realtime";
import type { Agent, Availability, Conversation, Inbox, InboxView, Status, User } from "../types";
import { conversationInUrl, showConversationInUrl } from "../route";
import { AgentThread } from "./AgentThread";
import { ConversationActions } from "./ConversationActions";
import { PriorityBadge } from "./PriorityLabels";

const VIEWS: { value: InboxView; label: string }[] = [
  { value: "mine", label: "Mine" },
  { value: "unassigned", label: "Unassigned" },
  { value: "team", label: "Team" },
];
const STATUSES: { value: Status; label: string }[] = [
  { value: "open", label: "Open" },
  { value: "pending", label: "Pending" },
  { value: "snoozed", label: "Snoozed" },
  { value: "resolved", label: "Resolved" },
];
// (`messageNotification`: a message in a conversation not open here, to its participants.)
const INBOX_EVENTS = [
  "conversationQueued",
  "conversationAssigned",
  "conversationUpdated",
  "newMessage",
  "messageNotification",
  "connect",
];

export function AgentConsole({ me, socket }: { me: User; socket: Socket }) {
  const [view, setView] = useState<InboxView>("mine");
  // The inbox lists one status at a time (the counts are for it too): open by default.
  const [status, setStatus] = useState<Status>("open");
  const [inbox, setInbox] = useState<Inbox | null>(null);
  const [selected, setSelected] = useState<Conversation | null>(null);
  const [availability, setAvailability] = useState<Availability | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reloadTimer = useRef<number | undefined>(undefined);
  const online = useOnline(socket);
  useUnreadTitle(unreadOutside(inbox?.items ?? [], selected?._id));
  // Below the md breakpoint the inbox and the conversation take turns on the screen.
  const narrow = useMediaQuery("(max-width: 62em)");
  const showError = useCallback((e: unknown) => setError(describe(e)), []);

  const reload = useCallback(() => {
    window.clearTimeout(reloadTimer.current);
    reloadTimer.current = window.setTimeout(() => {
      api<Inbox>("GET", `/inbox?view=${view}&status=${status}`)
        .then((answer) => {
          setInbox(answer);
          setSelected((current) => (current && answer.items.find((c) => c._id === current._id)) || current);
        })
        .catch((e: unknown) => setError(describe(e)));
    }, 150);
  }, [view, status]);

  useEffect(reload, [reload]);
  useEffect(() => {
    // Opened from a link (/chat/<id>, as in notification emails).
    const linked = conversationInUrl();
    if (linked)
      api<Conversation>("GET", `/conversations/${linked}`)
        .then(setSelected)
        .catch((e: unknown) => setError(describe(e)));
  }, []);
  useEffect(() => showConversationInUrl(selected?._id ?? null), [selected?._id]);
  useEffect(() => {
    INBOX_EVENTS.forEach((event) => socket.on(event, reload));
    return () => INBOX_EVENTS.forEach((event) => socket.off(event, reload));
  }, [socket, reload]);

  useSocketEvent<{ conversation: Conversation }>(
    socket,
    "conversationUpdated",
    useCallback(({ conversation }) => {
      // An event can arrive after the answer of a later change made here (a claim's event
      // after the unassign's answer): an older version never overwrites a newer one.
      setSelected((current) =>
        current && current._id === conversation._id && (conversation.version ?? 0) >= (current.version ?? 0)
          ? { ...current, ...conversation }
          : current,
      );
    }, []),
  );

  useEffect(() => {
    api<Agent[]>("GET", "/agents")
      .then((agents) => setAvailability(agents.find((a) => a._id === me.id)?.availability ?? "offline"))
      .catch((e: unknown) => setError(describe(e)));
  }, [me.id]);

  async function changeAvailability(value: Availability) {
    const previous = availability;
    setAvailability(value);
    try {
      await api("PUT", "/agents/me/availability", { availability: value });
    } catch (e) {
      setAvailability(previous);
      setError(describe(e));
    }
  }

  const mine = selected?.assignee?._id === me.id || selected?.participants?.some((p) => p._id === me.id);

  return (
    <Stack gap="sm">
      <Group justify="space-between">
        <Group gap="xs">
          <Text fw={600}>Availability</Text>
          <SegmentedControl
            aria-label="Availability"
            data-testid="availability"
            value={availability ?? "offline"}
            onChange={(value) => void changeAvailability(value as Availability)}
            data={[
              { value: "available", label: "Available" },
              { value: "busy", label: "Busy" },
              { value: "offline", label: "Offline" },
            ]}
          />
        </Group>
        {error && (
          <Text c="red" role="alert">
            {error}
          </Text>
        )}
      </Group>
      <Grid gutter="md">
        <Grid.Col span={{ base: 12, md: 4 }} display={narrow && selected ? "none" : undefined}>
          <Paper withBorder p="xs" radius="md">
            <Tabs value={view} onChange={(value) => value && setView(value as InboxView)}>
              <Tabs.List>
                {VIEWS.map((v) => (
                  <Tabs.Tab
                    key={v.value}
                    value={v.value}
                    px="sm"
                    data-testid={`tab-${v.value}`}
                    rightSection={
                      <Badge size="sm" variant="light" miw={22} style={{ flexShrink: 0 }} data-testid={`count-${v.value}`}>
                        {inbox?.counts[v.value] ?? 0}
                      </Badge>
                    }
                  >
                    {v.label}
                  </Tabs.Tab>
                ))}
              </Tabs.List>
            </Tabs>
            <Select
              size="xs"
              mt="xs"
              w={150}
              aria-label="Inbox shows"
              allowDeselect={false}
              value={status}
              onChange={(value) => value && setStatus(value as Status)}
              data={STATUSES}
            />
            <ScrollArea.Autosize mah="65vh" mt="xs">
              {inbox?.items.length === 0 && (
                <Text size="sm" c="dimmed" p="xs">
                  Nothing here.
                </Text>
              )}
              {inbox?.items.map((c) => (
                <NavLink
                  key={c._id}
                  // A button, so the inbox is reached and opened with the keyboard.
                  component="button"
                  w="100%"
                  data-testid="inbox-item"
                  active={c._id === selected?._id}
                  onClick={() => setSelected(c)}
                  label={customerOf(c, me)}
                  description={
                    <>
                      {c.lastMessage?.text ?? c.subject ?? "No messages yet"}
                      {(c.labels ?? []).length > 0 && (
                        <Group gap={4} mt={2} component="span">
                          {c.labels?.map((label) => (
                            <Badge key={label} size="xs" variant="default" component="span">
                              {label}
                            </Badge>
                          ))}
                        </Group>
                      )}
                    </>
                  }
                  rightSection={
                    <Group gap={4} wrap="nowrap">
                      {(c.unreadCount ?? 0) > 0 && c._id !== selected?._id && (
                        <Badge size="sm" circle aria-label={`${c.unreadCount} unread`}>
                          {c.unreadCount}
                        </Badge>
                      )}
                      <PriorityBadge priority={c.priority} />
                      <StatusBadge status={c.status} />
                    </Group>
                  }
                />
              ))}
            </ScrollArea.Autosize>
          </Paper>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 8 }}>
          {narrow && selected && (
            <Button variant="subtle" size="xs" mb={4} onClick={() => setSelected(null)}>
              ← Inbox
            </Button>
          )}
          <Paper withBorder p={narrow ? "xs" : "md"} radius="md" mih="70vh">
            {selected ? (
              <AgentThread
                key={selected._id}
                onError={showError}
                conversationId={selected._id}
                me={me}
                socket={socket}
                readOnlyReason={mine ? null : "Claim this conversation to reply."}
                header={
                  <ConversationActions
                    conversation={selected}
                    me={me}
                    customer={customerOf(selected, me)}
                    customerOnline={online.has(customerIdOf(selected, me) ?? "")}
                    onChange={(conversation) => {
                      setSelected(conversation);
                      reload();
                    }}
                  />
                }
              />
            ) : (
              <Text c="dimmed">Choose a conversation from the inbox.</Text>
            )}
          </Paper>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}

function customerRef(conversation: Conversation, me: User) {
  return (
    conversation.participants?.find((p) => p._id !== me.id && p._id !== conversation.assignee?._id) ??
    conversation.participants?.[0]
  );
}

function customerOf(conversation: Conversation, me: User): string {
  return customerRef(conversation, me)?.email ?? "Customer";
}

function customerIdOf(conversation: Conversation, me: User): string | undefined {
  return customerRef(conversation, me)?._id;
}
