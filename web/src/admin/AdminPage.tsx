// The admin page (role admin): teams with their members and capacity, and the staff accounts
// with their load, capacity override and whether they may sign in. Everything it shows is read
// again after each change, so it is what the API holds.
import { Alert, Group, Stack, Title } from "@mantine/core";
import { useCallback, useEffect, useState } from "react";
import { api } from "../api";
import { describe } from "../components/Thread";
import type { Account, Agent, TeamDetail } from "../types";
import { StaffPanel } from "./StaffPanel";
import { TeamsPanel } from "./TeamsPanel";

export interface Directory {
  teams: TeamDetail[];
  agents: Agent[];
  accounts: Account[];
}

export function AdminPage() {
  const [directory, setDirectory] = useState<Directory>({ teams: [], agents: [], accounts: [] });
  const [error, setError] = useState<string | null>(null);

  const reload = useCallback(async (): Promise<Directory | null> => {
    try {
      const [teams, agents, accounts] = await Promise.all([
        api<TeamDetail[]>("GET", "/teams"),
        api<Agent[]>("GET", "/agents"),
        api<Account[]>("GET", "/auth/all-users"),
      ]);
      const next = { teams, agents, accounts };
      setDirectory(next);
      setError(null);
      return next;
    } catch (e) {
      setError(describe(e));
      return null;
    }
  }, []);

  useEffect(() => void reload(), [reload]);

  return (
    <Stack gap="md" data-testid="admin-page">
      <Group justify="space-between">
        <Title order={3}>Administration</Title>
      </Group>
      {error && (
        <Alert color="red" role="alert" withCloseButton onClose={() => setError(null)}>
          {error}
        </Alert>
      )}
      <TeamsPanel directory={directory} reload={reload} />
      <StaffPanel directory={directory} reload={reload} />
    </Stack>
  );
}
