// The agent's canned responses: the ones they may use (their own, their teams', the global
// ones), a form to write one, and delete for those they wrote (admins: any). Used from the
// composer by typing `/` and the short code (CannedPicker).
import { Alert, Badge, Button, Group, Modal, Select, Stack, Text, TextInput, Textarea } from "@mantine/core";
import { useCallback, useEffect, useState } from "react";
import { api } from "../api";
import { describe } from "../components/Thread";
import type { CannedResponse, Team, User } from "../types";

type Scope = CannedResponse["scope"];

interface Props {
  me: User;
  opened: boolean;
  onClose: () => void;
}

export function CannedManager({ me, opened, onClose }: Props) {
  const [items, setItems] = useState<CannedResponse[]>([]);
  const [teams, setTeams] = useState<Team[]>([]);
  const [shortCode, setShortCode] = useState("");
  const [text, setText] = useState("");
  const [scope, setScope] = useState<string>("personal");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const admin = me.role === "admin";

  const load = useCallback(() => {
    api<CannedResponse[]>("GET", "/canned-responses")
      .then(setItems)
      .catch((e: unknown) => setError(describe(e)));
  }, []);

  useEffect(() => {
    if (!opened) return;
    setError(null);
    load();
    api<(Team & { members?: string[] })[]>("GET", "/teams")
      .then((all) => setTeams(all.filter((t) => admin || t.members?.includes(me.id))))
      .catch(() => setTeams([]));
  }, [opened, load, admin, me.id]);

  async function create() {
    setBusy(true);
    setError(null);
    const [kind, teamId] = scope.split(":") as [Scope, string | undefined];
    try {
      await api("POST", "/canned-responses", { shortCode, text, scope: kind, ...(teamId ? { teamId } : {}) });
      setShortCode("");
      setText("");
      load();
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  }

  async function remove(canned: CannedResponse) {
    setError(null);
    try {
      await api("DELETE", `/canned-responses/${canned._id}`);
      load();
    } catch (e) {
      setError(describe(e));
    }
  }

  const teamName = (id: string | null) => teams.find((t) => t._id === id)?.name ?? "a team";
  const scopes = [
    { value: "personal", label: "Only me" },
    ...teams.map((t) => ({ value: `team:${t._id}`, label: `Team ${t.name}` })),
    ...(admin ? [{ value: "global", label: "Everyone (global)" }] : []),
  ];

  return (
    <Modal opened={opened} onClose={onClose} title="Canned responses" size="lg">
      <Stack gap="sm">
        <Text size="sm" c="dimmed">
          Type / and a short code in the composer to use one.
        </Text>
        {items.length === 0 && <Text size="sm">None yet.</Text>}
        {items.map((c) => (
          <Group key={c._id} justify="space-between" wrap="nowrap" align="flex-start" data-testid="canned-item">
            <Stack gap={0} style={{ minWidth: 0 }}>
              <Group gap={6}>
                <Text fw={600} size="sm">
                  /{c.shortCode}
                </Text>
                <Badge size="xs" variant="light">
                  {c.scope === "team" ? teamName(c.teamId) : c.scope}
                </Badge>
              </Group>
              <Text size="sm" c="dimmed" lineClamp={2}>
                {c.text}
              </Text>
            </Stack>
            {(admin || c.authorId === me.id) && (
              <Button size="xs" variant="subtle" color="red" aria-label={`Delete /${c.shortCode}`} onClick={() => void remove(c)}>
                Delete
              </Button>
            )}
          </Group>
        ))}
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void create();
          }}
        >
          <Stack gap="xs">
            <Group grow align="flex-start">
              <TextInput
                label="Short code"
                placeholder="late-parcel"
                required
                value={shortCode}
                onChange={(e) => setShortCode(e.currentTarget.value)}
              />
              <Select label="Who may use it" allowDeselect={false} data={scopes} value={scope} onChange={(v) => v && setScope(v)} />
            </Group>
            <Textarea label="Text" required autosize minRows={2} value={text} onChange={(e) => setText(e.currentTarget.value)} />
            {error && (
              <Alert color="red" role="alert">
                {error}
              </Alert>
            )}
            <Button type="submit" loading={busy} style={{ alignSelf: "flex-start" }}>
              Add canned response
            </Button>
          </Stack>
        </form>
      </Stack>
    </Modal>
  );
}
