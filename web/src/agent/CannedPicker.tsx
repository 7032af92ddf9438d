// Canned responses in the composer: typing `/` and a short code lists the matching responses
// (the agent's own, their teams' and the global ones); arrows move, Enter or Tab puts the chosen
// text in the composer to edit and send, Escape closes the list.
import { Paper, Stack, Text, UnstyledButton } from "@mantine/core";
import { useEffect, useState } from "react";
import { api } from "../api";
import type { Draft } from "../components/threadSlots";
import { describe } from "../components/Thread";
import type { CannedResponse } from "../types";

const SLASH = /^\/([\w\-.]*)$/;
const SHOWN = 8;
const SEARCH_DELAY_MS = 120;

/** Those whose code starts with what was typed first, then the ones that match elsewhere. */
function ranked(list: CannedResponse[], code: string): CannedResponse[] {
  const lower = code.toLowerCase();
  const starts = (c: CannedResponse) => (c.shortCode.toLowerCase().startsWith(lower) ? 0 : 1);
  return [...list].sort((a, b) => starts(a) - starts(b) || a.shortCode.localeCompare(b.shortCode)).slice(0, SHOWN);
}

export function CannedPicker({ draft }: { draft: Draft }) {
  const code = SLASH.exec(draft.text)?.[1] ?? null;
  const [found, setFound] = useState<{ code: string; items: CannedResponse[] } | null>(null);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (code === null) return;
    let cancelled = false;
    const timer = window.setTimeout(() => {
      api<CannedResponse[]>("GET", `/canned-responses${code ? `?q=${encodeURIComponent(code)}` : ""}`)
        .then((list) => {
          if (cancelled) return;
          setFound({ code, items: ranked(list, code) });
          setActive(0);
          setError(null);
        })
        .catch((e: unknown) => !cancelled && setError(describe(e)));
    }, SEARCH_DELAY_MS);
    return () => {
      cancelled = true;
      window.clearTimeout(timer);
    };
  }, [code]);

  const items = code !== null && found?.code === code ? found.items : [];
  const open = code !== null && dismissed !== draft.text;

  function pick(canned: CannedResponse) {
    draft.setText(canned.text);
    draft.focus();
  }

  useEffect(() => {
    draft.keys.current =
      open && items.length > 0
        ? (event) => {
            if (event.key === "ArrowDown" || event.key === "ArrowUp") {
              const step = event.key === "ArrowDown" ? 1 : -1;
              setActive((i) => (i + step + items.length) % items.length);
            } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
              pick(items[Math.min(active, items.length - 1)]);
            } else if (event.key === "Escape") {
              setDismissed(draft.text);
            } else return false;
            event.preventDefault();
            return true;
          }
        : null;
    return () => {
      draft.keys.current = null;
    };
  });

  if (!open) return null;
  if (error)
    return (
      <Text size="sm" c="red" role="alert">
        Canned responses could not be loaded: {error}
      </Text>
    );
  if (found?.code === code && items.length === 0)
    return (
      <Text size="sm" c="dimmed" data-testid="canned-none">
        No canned response matches /{code}.
      </Text>
    );
  if (items.length === 0) return null;
  return (
    <Paper withBorder shadow="sm" radius="md" p={4}>
      <Stack gap={2} role="listbox" aria-label="Canned responses" data-testid="canned-list">
        {items.map((c, i) => (
          <UnstyledButton
            key={c._id}
            role="option"
            aria-selected={i === active}
            tabIndex={-1}
            px="xs"
            py={4}
            bg={i === active ? "blue.0" : undefined}
            style={{ borderRadius: 4 }}
            // Keep the focus in the composer; the click itself picks.
            onMouseDown={(event) => event.preventDefault()}
            onMouseEnter={() => setActive(i)}
            onClick={() => pick(c)}
          >
            <Text size="sm" lineClamp={1}>
              <strong>/{c.shortCode}</strong>{" "}
              <Text span c="dimmed" inherit>
                {c.text}
              </Text>
            </Text>
          </UnstyledButton>
        ))}
      </Stack>
      <Text size="xs" c="dimmed" px="xs">
        ↑↓ to choose · Enter or Tab to use · Esc to close
      </Text>
    </Paper>
  );
}
