// The buyer's face: their support conversations (current ones, then past ones, with who handles
// each and its status), the open one live with the satisfaction prompt, and "Contact support".
import { Badge, Button, Grid, Group, NavLink, Paper, ScrollArea, Stack, Text } from "@mantine/core";
import { useCallback, useEffect, useRef, useState } from "react";
import type { Socket } from "socket.io-client";
import { api } from "../api";
import { StatusBadge } from "../components/StatusBadge";
import { unreadOutside, useUnreadTitle } from "../components/unreadTitle";
import { describe, Thread } from "../components/Thread";
import { useSocketEvent } from "../realtime";
import type { Conversation, User } from "../types";
import { conversationInUrl, showConversationInUrl } from "../route";
import { ContactSupport } from "./ContactSupport";
import { RatingPrompt } from "./RatingPrompt";

interface Props {
  me: User;
  socket: Socket;
}

export function BuyerHome({ me, socket }: Props) {
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [selected, setSelected] = useState<string | null>(conversationInUrl);
  const [error, setError] = useState<string | null>(null);
  const reloadTimer = useRef<number | undefined>(undefined);

  const reload = useCallback(() => {
    window.clearTimeout(reloadTimer.current);
    reloadTimer.current = window.setTimeout(() => {
      api<Conversation[]>("GET", "/conversations")
        .then(setConversations)
        .catch((e: unknown) => setError(describe(e)));
    }, 150);
  }, []);

  useEffect(reload, [reload]);
  useEffect(() => showConversationInUrl(selected), [selected]);
  useSocketEvent(socket, "conversationUpdated", reload);
  useSocketEvent(socket, "conversationCreated", reload);
  useSocketEvent(socket, "newMessage", reload);
  // A message in a conversation not open here comes to one's user room only, as this.
  useSocketEvent(socket, "messageNotification", reload);
  useSocketEvent(socket, "messageDeleted", reload);
  useSocketEvent(socket, "messageRead", reload);
  useSocketEvent(socket, "connect", reload);
  useSocketEvent(socket, "csatRequested", reload);

  const current = conversations.find((c) => c._id === selected) ?? null;
  useUnreadTitle(unreadOutside(conversations, selected));
  const ongoing = conversations.filter((c) => c.status !== "resolved");
  const past = conversations.filter((c) => c.status === "resolved");
  const item = (c: Conversation) => (
    <NavLink
      key={c._id}
      // A button, so past conversations are reached and opened with the keyboard.
      component="button"
      w="100%"
      data-testid="conversation-item"
      active={c._id === selected}
      onClick={() => setSelected(c._id)}
      label={c.updatedAt ? `${titleOf(c)} · ${shortDate(c.updatedAt)}` : titleOf(c)}
      description={c.lastMessage?.text || (c.lastMessage?.attachments?.length ? "An attachment" : "No messages yet")}
      rightSection={
        <Group gap={4} wrap="nowrap">
          {(c.unreadCount ?? 0) > 0 && c._id !== selected && (
            <Badge size="sm" circle aria-label={`${c.unreadCount} unread`} data-testid="unread">
              {c.unreadCount}
            </Badge>
          )}
          <StatusBadge status={c.status} />
        </Group>
      }
    />
  );

  return (
    <Grid gutter="md">
      <Grid.Col span={{ base: 12, sm: 4 }}>
        <Paper withBorder p="xs" radius="md">
          <Stack gap="xs">
            <Button onClick={() => setSelected(null)} variant={selected ? "light" : "filled"}>
              Contact support
            </Button>
            <Text size="sm" fw={600}>
              Your conversations
            </Text>
            {error && (
              <Text c="red" role="alert">
                {error}
              </Text>
            )}
            {ongoing.length === 0 && (
              <Text size="sm" c="dimmed">
                {past.length ? "None open." : "None yet."}
              </Text>
            )}
            <ScrollArea.Autosize mah="60vh">
              <div data-testid="ongoing-conversations">{ongoing.map(item)}</div>
              {past.length > 0 && (
                <>
                  <Text size="sm" fw={600} mt="sm" mb={4}>
                    Past conversations
                  </Text>
                  <div data-testid="past-conversations">{past.map(item)}</div>
                </>
              )}
            </ScrollArea.Autosize>
          </Stack>
        </Paper>
      </Grid.Col>
      <Grid.Col span={{ base: 12, sm: 8 }}>
        <Paper withBorder p="md" radius="md" mih="70vh">
          {current ? (
            <Thread
              conversationId={current._id}
              me={me}
              socket={socket}
              header={
                <Stack gap="xs">
                  <Group justify="space-between" data-testid="conversation-header">
                    <Stack gap={0}>
                      <Text fw={600}>{titleOf(current)}</Text>
                      <Text size="sm" c="dimmed" data-testid="handler">
                        {current.assignee ? `Handled by ${current.assignee.email}` : "Waiting for an agent…"}
                      </Text>
                    </Stack>
                    <StatusBadge status={current.status} />
                  </Group>
                  <RatingPrompt
                    conversation={current}
                    onRated={(rated) => setConversations((list) => list.map((c) => (c._id === rated._id ? rated : c)))}
                  />
                </Stack>
              }
            />
          ) : (
            <ContactSupport
              onOpened={(conversation) => {
                setConversations((list) => [conversation, ...list.filter((c) => c._id !== conversation._id)]);
                setSelected(conversation._id);
                reload();
              }}
            />
          )}
        </Paper>
      </Grid.Col>
    </Grid>
  );
}

function shortDate(iso: string): string {
  return new Date(iso).toLocaleDateString([], { day: "numeric", month: "short" });
}

function titleOf(conversation: Conversation): string {
  if (conversation.subject) return conversation.subject;
  if (conversation.orderId) return `Order ${conversation.orderId}`;
  // (Who handles it is said under the title.)
  return conversation.team?.name ?? "Support";
}
