// The buyer's face: their support conversations (with who handles each and its status), the
// open one live, and "Contact support".
import { Badge, Button, Grid, Group, NavLink, Paper, ScrollArea, Stack, Text } from "@mantine/core";
import { useCallback, useEffect, useRef, useState } from "react";
import type { Socket } from "socket.io-client";
import { api } from "../api";
import { StatusBadge } from "../components/StatusBadge";
import { describe, Thread } from "../components/Thread";
import { useSocketEvent } from "../realtime";
import type { Conversation, User } from "../types";
import { conversationInUrl, showConversationInUrl } from "../route";
import { ContactSupport } from "./ContactSupport";

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
  useSocketEvent(socket, "messageRead", reload);
  useSocketEvent(socket, "connect", reload);

  const current = conversations.find((c) => c._id === selected) ?? null;

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
            {error && <Text c="red">{error}</Text>}
            {conversations.length === 0 && (
              <Text size="sm" c="dimmed">
                None yet.
              </Text>
            )}
            <ScrollArea.Autosize mah="60vh">
              {conversations.map((c) => (
                <NavLink
                  key={c._id}
                  data-testid="conversation-item"
                  active={c._id === selected}
                  onClick={() => setSelected(c._id)}
                  label={titleOf(c)}
                  description={c.lastMessage?.text ?? "No messages yet"}
                  rightSection={
                    <Group gap={4} wrap="nowrap">
                      {(c.unreadCount ?? 0) > 0 && c._id !== selected && (
                        <Badge size="sm" circle aria-label={`${c.unreadCount} unread`}>
                          {c.unreadCount}
                        </Badge>
                      )}
                      <StatusBadge status={c.status} />
                    </Group>
                  }
                />
              ))}
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
                <Group justify="space-between" data-testid="conversation-header">
                  <Stack gap={0}>
                    <Text fw={600}>{titleOf(current)}</Text>
                    <Text size="sm" c="dimmed" data-testid="handler">
                      {current.assignee ? `Handled by ${current.assignee.email}` : "Waiting for an agent…"}
                    </Text>
                  </Stack>
                  <StatusBadge status={current.status} />
                </Group>
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

function titleOf(conversation: Conversation): string {
  if (conversation.subject) return conversation.subject;
  if (conversation.orderId) return `Order ${conversation.orderId}`;
  return conversation.assignee?.email ?? "Support";
}
