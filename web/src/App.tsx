// Signed out: the sign-in screen. Signed in: the buyer's face for customers, the agent's for
// staff, with one socket for the session.
import { AppShell, Badge, Button, Group, SegmentedControl, Text, Title } from "@mantine/core";
import { useEffect, useMemo, useState } from "react";
import { currentSession, onSessionChange, signOut, type Session } from "./api";
import { AdminPage } from "./admin/AdminPage";
import { AgentConsole } from "./agent/AgentConsole";
import { BuyerHome } from "./buyer/BuyerHome";
import { AuthScreen } from "./components/AuthScreen";
import { connect, useConnected } from "./realtime";
import { adminInUrl, showAdminInUrl } from "./route";
import { STAFF_ROLES } from "./types";

export function App() {
  const [session, setSession] = useState<Session | null>(currentSession());
  useEffect(() => onSessionChange(setSession), []);
  const userId = session?.user.id ?? null;
  if (!session || !userId) return <AuthScreen />;
  return <SignedIn key={userId} session={session} />;
}

function SignedIn({ session }: { session: Session }) {
  const socket = useMemo(() => connect(), []);
  useEffect(() => () => void socket.disconnect(), [socket]);
  const connected = useConnected(socket);
  const staff = STAFF_ROLES.includes(session.user.role);
  const admin = session.user.role === "admin";
  // Admins switch between the console and the admin page (teams, capacity, staff accounts).
  const [adminPage, setAdminPage] = useState(() => admin && adminInUrl());
  useEffect(() => void (adminPage && showAdminInUrl()), [adminPage]);
  return (
    <AppShell header={{ height: 56 }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="xs" wrap="nowrap">
            {/* An admin's phone needs the room for the Inbox / Admin switch. */}
            <Title order={4} style={{ whiteSpace: "nowrap" }} visibleFrom={admin ? "xs" : undefined}>
              Workcity Chat
            </Title>
            <Badge variant="light" visibleFrom="sm">
              {staff ? "Agent console" : "Support"}
            </Badge>
          </Group>
          <Group gap="xs" wrap="nowrap">
            {admin && (
              <SegmentedControl
                size="xs"
                aria-label="Page"
                data-testid="page-switch"
                value={adminPage ? "admin" : "console"}
                onChange={(value) => setAdminPage(value === "admin")}
                data={[
                  { value: "console", label: "Inbox" },
                  { value: "admin", label: "Admin" },
                ]}
              />
            )}
            <Badge color={connected ? "green" : "orange"} variant="dot" data-testid="connection" style={{ flexShrink: 0 }}>
              {connected ? "online" : "reconnecting…"}
            </Badge>
            {/* On a phone the email gives way to what matters: the connection and sign-out. */}
            <Text size="sm" truncate maw={260} visibleFrom="sm" data-testid="me">
              {session.user.email}
            </Text>
            <Button size="xs" variant="subtle" style={{ flexShrink: 0 }} onClick={() => void signOut()}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Main>
        {adminPage ? <AdminPage /> : staff ? <AgentConsole me={session.user} socket={socket} /> : <BuyerHome me={session.user} socket={socket} />}
      </AppShell.Main>
    </AppShell>
  );
}
