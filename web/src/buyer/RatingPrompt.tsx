// The satisfaction prompt: after staff resolve a conversation its customer is asked (csatRequested,
// and the conversation's `csat`) to rate it 1-5, once per resolution (POST .../csat).
import { Alert, Button, Group, Paper, Stack, Text, Textarea } from "@mantine/core";
import { useEffect, useState } from "react";
import { api } from "../api";
import { ActionForm, useAction } from "../components/Action";
import type { Conversation } from "../types";

const SCORES = [1, 2, 3, 4, 5];
const WORDS: Record<number, string> = { 1: "Very poor", 2: "Poor", 3: "Okay", 4: "Good", 5: "Excellent" };

interface Props {
  conversation: Conversation;
  onRated: (conversation: Conversation) => void;
}

export function RatingPrompt({ conversation, onRated }: Props) {
  const [score, setScore] = useState<number | null>(null);
  const [comment, setComment] = useState("");
  const { busy, error, setError, run } = useAction();
  const csat = conversation.csat;
  const requestedAt = csat?.requestedAt ?? null;

  // A new round (a reopen and another resolve) asks afresh.
  useEffect(() => {
    setScore(null);
    setComment("");
    setError(null);
  }, [conversation._id, requestedAt, setError]);

  if (!csat?.requestedAt) return null;
  if (csat.rating == null && conversation.status !== "resolved") return null; // reopened since
  if (csat.rating != null)
    return (
      <Text size="sm" c="dimmed" data-testid="rating-given">
        You rated this conversation {csat.rating} of 5{csat.rating >= 4 ? ". Thank you!" : ". Thank you for telling us."}
      </Text>
    );

  async function send() {
    if (score === null) return;
    await run(async () => {
      await api("POST", `/conversations/${conversation._id}/csat`, {
        rating: score,
        ...(comment.trim() ? { comment: comment.trim() } : {}),
      });
      onRated({
        ...conversation,
        csat: { requestedAt, rating: score, comment: comment.trim() || null, ratedAt: new Date().toISOString() },
      });
    });
  }

  return (
    <Paper withBorder p="sm" radius="md" bg="yellow.0" data-testid="rating-prompt">
      <ActionForm onSubmit={() => void send()}>
        <Stack gap={6}>
          <Text fw={600} id="rating-question">
            How did we do? Rate this conversation.
          </Text>
          {/* Toggle buttons (Tab, then Enter or Space): each says what it means. */}
          <Group gap={4} role="group" aria-labelledby="rating-question">
            {SCORES.map((n) => (
              <Button
                key={n}
                size="compact-md"
                variant={score !== null && n <= score ? "filled" : "default"}
                color="yellow"
                aria-pressed={score === n}
                aria-label={`${n} of 5: ${WORDS[n]}`}
                onClick={() => setScore(n)}
              >
                ★
              </Button>
            ))}
            {score !== null && (
              <Text size="sm" c="dimmed" ml={4}>
                {WORDS[score]}
              </Text>
            )}
          </Group>
          <Textarea
            aria-label="Comment (optional)"
            placeholder="Anything to add? (optional)"
            autosize
            minRows={1}
            maxRows={4}
            value={comment}
            onChange={(e) => setComment(e.currentTarget.value)}
          />
          {error && (
            <Alert color="red" role="alert" p="xs">
              {error}
            </Alert>
          )}
          <Group>
            <Button type="submit" size="xs" loading={busy} disabled={score === null}>
              Send rating
            </Button>
          </Group>
        </Stack>
      </ActionForm>
    </Paper>
  );
}
