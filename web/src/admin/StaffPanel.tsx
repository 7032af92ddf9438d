// Staff accounts: create one (POST /auth/admin/create-user), and for each staff member their
// teams, availability (admins may set it), load, own capacity (PUT /agents/:id/capacity; empty
// = the team's), their role and whether they may sign in (PATCH /auth/users/:id {role, disabled}).
import { Alert, Badge, Button, Group, NumberInput, Paper, PasswordInput, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useEffect, useState } from "react";
import { api } from "../api";
import { ActionForm, useAction } from "../components/Action";
import type { Account, Agent, Availability, Role } from "../types";
import { STAFF_ROLES } from "../types";
import type { Directory } from "./AdminPage";

interface Props {
  directory: Directory;
  reload: () => Promise<Directory | null>;
}

// A new account reaches the desk's copy of the directory by an event, a moment after it is
// created: the page reads again this often, this many times, until it is listed.
const DIRECTORY_POLL_MS = 500;
const DIRECTORY_POLLS = 20;

function NewAccount({ reload }: Pick<Props, "reload">) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("agent");
  const [notice, setNotice] = useState<string | null>(null);
  const { busy, error, run } = useAction();

  async function create() {
    setNotice(null);
    await run(async () => {
      const answer = await api<{ user: { _id: string; email: string } }>("POST", "/auth/admin/create-user", {
        email: email.trim(),
        password,
        role,
      });
      setEmail("");
      setPassword("");
      for (let i = 0; i < DIRECTORY_POLLS; i++) {
        const directory = await reload();
        if (directory?.agents.some((a) => a._id === answer.user._id)) break;
        await new Promise((done) => window.setTimeout(done, DIRECTORY_POLL_MS));
      }
      setNotice(`${answer.user.email} can now sign in as ${role}.`);
    });
  }

  return (
    <ActionForm onSubmit={() => void create()}>
      <Group align="flex-end" gap="sm" wrap="wrap">
        <TextInput label="Email" type="email" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} />
        <PasswordInput
          label="Password"
          description="at least 6 characters"
          required
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
        />
        <Select
          label="Role"
          w={140}
          allowDeselect={false}
          data={STAFF_ROLES.map((r) => ({ value: r, label: r }))}
          value={role}
          onChange={(value) => value && setRole(value as Role)}
        />
        <Button type="submit" loading={busy} disabled={!email.trim() || !password}>
          Create account
        </Button>
      </Group>
      {notice && (
        <Text size="sm" c="green" mt="xs" data-testid="account-created">
          {notice}
        </Text>
      )}
      {error && (
        <Alert color="red" role="alert" mt="xs" p="xs">
          {error}
        </Alert>
      )}
    </ActionForm>
  );
}

function StaffRow({ account, agent, teamNames, reload }: {
  account: Account;
  agent: Agent | undefined;
  teamNames: string;
  reload: Props["reload"];
}) {
  const saved = agent?.capacity ?? "";
  const [capacity, setCapacity] = useState<number | string>(saved);
  const { busy, error, run } = useAction();
  // A reload that brings another saved capacity shows it. (The row used to be keyed by its
  // capacity and remounted instead, which closed whatever dropdown of the row was open: the
  // role picker an admin had just opened vanished when the capacity's reload landed.)
  useEffect(() => setCapacity(saved), [saved]);

  const act = (method: string, path: string, body: unknown) =>
    run(async () => {
      await api(method, path, body);
      await reload();
    });

  const override = typeof capacity === "number" ? capacity : null;
  return (
    <Table.Tr data-testid="staff-row" data-email={account.email}>
      <Table.Td>
        <Text size="sm" style={{ wordBreak: "break-all" }}>
          {account.email}
        </Text>
      </Table.Td>
      <Table.Td>
        <Select
          size="xs"
          w={120}
          aria-label={`Role of ${account.email}`}
          allowDeselect={false}
          data={STAFF_ROLES.map((r) => ({ value: r, label: r }))}
          value={account.role}
          onChange={(value) => value && value !== account.role && void act("PATCH", `/auth/users/${account._id}`, { role: value as Role })}
        />
      </Table.Td>
      <Table.Td>{teamNames || <Text span size="sm" c="dimmed">none</Text>}</Table.Td>
      <Table.Td>
        {agent ? (
          <Group gap={4} wrap="nowrap">
            <Badge size="xs" variant="dot" color={agent.online ? "green" : "gray"}>
              {agent.online ? "online" : "offline"}
            </Badge>
            <Select
              size="xs"
              w={110}
              aria-label={`Availability of ${account.email}`}
              allowDeselect={false}
              data={["available", "busy", "offline"]}
              value={agent.availability}
              onChange={(value) => value && void act("PUT", `/agents/${account._id}/availability`, { availability: value as Availability })}
            />
          </Group>
        ) : (
          <Text size="sm" c="dimmed">
            —
          </Text>
        )}
      </Table.Td>
      <Table.Td>{agent ? agent.openAssigned : "—"}</Table.Td>
      <Table.Td>
        {agent && (
          <Group gap={4} wrap="nowrap">
            <NumberInput
              size="xs"
              w={90}
              min={0}
              max={1000}
              allowDecimal={false}
              placeholder="team's"
              aria-label={`Capacity of ${account.email}`}
              value={capacity}
              onChange={setCapacity}
            />
            <Button
              size="compact-xs"
              variant="light"
              loading={busy}
              disabled={override === (agent.capacity ?? null)}
              aria-label={`Set the capacity of ${account.email}`}
              onClick={() => void act("PUT", `/agents/${account._id}/capacity`, { capacity: override })}
            >
              Set
            </Button>
          </Group>
        )}
      </Table.Td>
      <Table.Td>
        <Button
          size="compact-xs"
          variant={account.disabled ? "light" : "subtle"}
          color={account.disabled ? "green" : "red"}
          loading={busy}
          onClick={() => void act("PATCH", `/auth/users/${account._id}`, { disabled: !account.disabled })}
        >
          {account.disabled ? "Enable" : "Disable"}
        </Button>
        {error && (
          <Text size="xs" c="red" role="alert">
            {error}
          </Text>
        )}
      </Table.Td>
    </Table.Tr>
  );
}

export function StaffPanel({ directory, reload }: Props) {
  const [filter, setFilter] = useState("");
  const agents = new Map(directory.agents.map((a) => [a._id, a]));
  const teams = new Map(directory.teams.map((t) => [t._id, t.name]));
  const wanted = filter.trim().toLowerCase();
  const staff = directory.accounts.filter(
    (a) => STAFF_ROLES.includes(a.role) && (!wanted || a.email.toLowerCase().includes(wanted)),
  );
  return (
    <Paper withBorder p="md" radius="md">
      <Stack gap="sm">
        <Title order={4}>Staff accounts</Title>
        <NewAccount reload={reload} />
        <TextInput
          label="Find staff"
          placeholder="part of an email"
          maw={320}
          value={filter}
          onChange={(e) => setFilter(e.currentTarget.value)}
        />
        <Table.ScrollContainer minWidth={760}>
          <Table striped verticalSpacing={4}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Email</Table.Th>
                <Table.Th>Role</Table.Th>
                <Table.Th>Teams</Table.Th>
                <Table.Th>Availability</Table.Th>
                <Table.Th>Open</Table.Th>
                <Table.Th>Own capacity</Table.Th>
                <Table.Th>Sign-in</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {staff.map((account) => {
                const agent = agents.get(account._id);
                return (
                  <StaffRow
                    key={account._id}
                    account={account}
                    agent={agent}
                    teamNames={(agent?.teams ?? []).map((id) => teams.get(id) ?? "").filter(Boolean).join(", ")}
                    reload={reload}
                  />
                );
              })}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      </Stack>
    </Paper>
  );
}
