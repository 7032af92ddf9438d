// Teams: create one (name, capacity per agent, automatic assignment) and edit each one's
// name, members, capacity and automatic assignment (POST /teams, PATCH /teams/:id, PUT .../members).
import { Accordion, Alert, Badge, Button, Group, MultiSelect, NumberInput, Paper, Stack, Switch, Text, TextInput, Title } from "@mantine/core";
import { useEffect, useState } from "react";
import { api } from "../api";
import { ActionForm, useAction } from "../components/Action";
import type { Agent, TeamDetail } from "../types";
import type { Directory } from "./AdminPage";

// The server's default for a new team (DESK_DEFAULT_CAPACITY) and its ceiling (domain/desk.py).
const DEFAULT_CAPACITY = 5;
const CAPACITY_MAX = 1000;

interface Props {
  directory: Directory;
  reload: () => Promise<Directory | null>;
}

function sameMembers(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}

function NewTeam({ reload, onCreated }: Pick<Props, "reload"> & { onCreated: (id: string) => void }) {
  const [name, setName] = useState("");
  const [capacity, setCapacity] = useState<number>(DEFAULT_CAPACITY);
  const [autoAssign, setAutoAssign] = useState(true);
  const { busy, error, run } = useAction();

  const create = () =>
    run(async () => {
      const team = await api<TeamDetail>("POST", "/teams", { name: name.trim(), capacity, autoAssign });
      setName("");
      setCapacity(DEFAULT_CAPACITY);
      setAutoAssign(true);
      await reload();
      onCreated(team._id);
    });

  return (
    <ActionForm onSubmit={() => void create()}>
      <Group align="flex-end" gap="sm" wrap="wrap">
        <TextInput label="Team name" required value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <NumberInput
          label="Capacity per agent"
          min={0}
          max={CAPACITY_MAX}
          allowDecimal={false}
          w={150}
          value={capacity}
          onChange={(value) => setCapacity(typeof value === "number" ? value : DEFAULT_CAPACITY)}
        />
        <Switch label="Assign automatically" checked={autoAssign} onChange={(e) => setAutoAssign(e.currentTarget.checked)} mb={8} />
        <Button type="submit" loading={busy} disabled={!name.trim()}>
          Create team
        </Button>
      </Group>
      {error && (
        <Alert color="red" role="alert" mt="xs" p="xs">
          {error}
        </Alert>
      )}
    </ActionForm>
  );
}

function TeamEditor({ team, agents, reload }: { team: TeamDetail; agents: Agent[]; reload: Props["reload"] }) {
  const [members, setMembers] = useState<string[]>(team.members);
  const [name, setName] = useState(team.name);
  const [capacity, setCapacity] = useState<number>(team.capacity);
  const [autoAssign, setAutoAssign] = useState(team.autoAssign);
  const [saved, setSaved] = useState(false);
  const { busy, error, run } = useAction();

  // What the server holds after each save (or someone else's change) is shown again.
  useEffect(() => {
    setMembers(team.members);
    setName(team.name);
    setCapacity(team.capacity);
    setAutoAssign(team.autoAssign);
  }, [team]);

  const renamed = name.trim() !== "" && name.trim() !== team.name;
  const changed =
    renamed || !sameMembers(members, team.members) || capacity !== team.capacity || autoAssign !== team.autoAssign;

  async function save() {
    setSaved(false);
    const done = await run(async () => {
      if (renamed || capacity !== team.capacity || autoAssign !== team.autoAssign)
        await api("PATCH", `/teams/${team._id}`, { capacity, autoAssign, ...(renamed ? { name: name.trim() } : {}) });
      if (!sameMembers(members, team.members)) await api("PUT", `/teams/${team._id}/members`, { userIds: members });
    });
    setSaved(done);
    // What the server holds now (also after a half-done save).
    await reload();
  }

  return (
    <Stack gap="xs" data-testid="team-editor">
      <TextInput label={`Name of ${team.name}`} required maw={320} value={name} onChange={(e) => setName(e.currentTarget.value)} />
      <MultiSelect
        label={`Members of ${team.name}`}
        placeholder={members.length ? undefined : "Choose staff"}
        data={agents.map((a) => ({ value: a._id, label: a.email }))}
        value={members}
        onChange={setMembers}
        searchable
        clearable
      />
      <Group align="flex-end" gap="sm" wrap="wrap">
        <NumberInput
          label={`Capacity of ${team.name}`}
          description="open conversations per agent"
          min={0}
          max={CAPACITY_MAX}
          allowDecimal={false}
          w={200}
          value={capacity}
          onChange={(value) => setCapacity(typeof value === "number" ? value : team.capacity)}
        />
        <Switch
          label="Assign automatically"
          checked={autoAssign}
          onChange={(e) => setAutoAssign(e.currentTarget.checked)}
          mb={8}
        />
        <Button onClick={() => void save()} loading={busy} disabled={!changed} aria-label={`Save ${team.name}`}>
          Save
        </Button>
        {saved && !changed && (
          <Text size="sm" c="green" data-testid="team-saved">
            Saved
          </Text>
        )}
      </Group>
      {error && (
        <Alert color="red" role="alert" p="xs">
          {error}
        </Alert>
      )}
    </Stack>
  );
}

function TeamSummary({ team, agents }: { team: TeamDetail; agents: Agent[] }) {
  const byId = new Map(agents.map((a) => [a._id, a]));
  const open = team.members.reduce((sum, id) => sum + (byId.get(id)?.openAssigned ?? 0), 0);
  return (
    <Group justify="space-between" wrap="wrap" pr="sm" data-testid="team" data-team={team.name}>
      <Group gap="xs">
        <Text fw={600}>{team.name}</Text>
        {team.isDefault && (
          <Badge size="sm" variant="light">
            default
          </Badge>
        )}
        {!team.autoAssign && (
          <Badge size="sm" variant="light" color="gray">
            claim only
          </Badge>
        )}
      </Group>
      <Text size="sm" c="dimmed" data-testid="team-load">
        {team.members.length} {team.members.length === 1 ? "member" : "members"} · capacity {team.capacity} · {open} open
      </Text>
    </Group>
  );
}

export function TeamsPanel({ directory, reload }: Props) {
  const [opened, setOpened] = useState<string | null>(null);
  return (
    <Paper withBorder p="md" radius="md">
      <Stack gap="sm">
        <Title order={4}>Teams</Title>
        <NewTeam reload={reload} onCreated={setOpened} />
        <Accordion variant="separated" value={opened} onChange={setOpened}>
          {directory.teams.map((team) => (
            <Accordion.Item key={team._id} value={team._id}>
              <Accordion.Control>
                <TeamSummary team={team} agents={directory.agents} />
              </Accordion.Control>
              <Accordion.Panel>
                <TeamEditor team={team} agents={directory.agents} reload={reload} />
              </Accordion.Panel>
            </Accordion.Item>
          ))}
        </Accordion>
      </Stack>
    </Paper>
  );
}
