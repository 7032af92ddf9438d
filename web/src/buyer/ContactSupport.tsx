// "Contact support": a team, an order number and the first message (POST /api/support).
import { Alert, Button, Select, Stack, Textarea, TextInput, Title } from "@mantine/core";
import { useEffect, useState } from "react";
import { api } from "../api";
import { describe } from "../components/Thread";
import type { Conversation, Team } from "../types";

export function ContactSupport({ onOpened }: { onOpened: (conversation: Conversation) => void }) {
  const [teams, setTeams] = useState<Team[]>([]);
  const [teamId, setTeamId] = useState<string | null>(null);
  const [orderId, setOrderId] = useState("");
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api<Team[]>("GET", "/support/teams")
      .then((list) => {
        setTeams(list);
        setTeamId((current) => current ?? list.find((t) => t.isDefault)?._id ?? list[0]?._id ?? null);
      })
      .catch((e: unknown) => setError(describe(e)));
  }, []);

  async function submit() {
    setBusy(true);
    setError(null);
    try {
      const conversation = await api<Conversation>("POST", "/support", {
        text: text.trim(),
        ...(teamId ? { teamId } : {}),
        ...(orderId.trim() ? { orderId: orderId.trim() } : {}),
      });
      setText("");
      setOrderId("");
      onOpened(conversation);
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <Stack maw={520}>
        <Title order={3}>Contact support</Title>
        <Select
          label="Team"
          data={teams.map((t) => ({ value: t._id, label: t.name }))}
          value={teamId}
          onChange={setTeamId}
          allowDeselect={false}
        />
        <TextInput label="Order number (optional)" value={orderId} onChange={(e) => setOrderId(e.currentTarget.value)} />
        <Textarea
          label="How can we help?"
          required
          minRows={3}
          autosize
          value={text}
          onChange={(e) => setText(e.currentTarget.value)}
        />
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        <Button type="submit" loading={busy} disabled={!text.trim()}>
          Start the conversation
        </Button>
      </Stack>
    </form>
  );
}
