// What every button that calls the API needs: busy while it runs, its failure in words.
import { useCallback, useState, type FormEvent, type ReactNode } from "react";
import { describe } from "./Thread";

export interface Action {
  busy: boolean;
  error: string | null;
  setError: (error: string | null) => void;
  /** Runs `work` (one at a time from the person's point of view); true when it succeeded. */
  run: (work: () => Promise<unknown>) => Promise<boolean>;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(async (work: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
      return true;
    } catch (e) {
      setError(describe(e));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, setError, run };
}

/** A form whose submit (the button or Enter) runs `onSubmit` instead of loading a page. */
export function ActionForm({ onSubmit, children }: { onSubmit: () => void; children: ReactNode }) {
  return (
    <form
      onSubmit={(event: FormEvent) => {
        event.preventDefault();
        onSubmit();
      }}
    >
      {children}
    </form>
  );
}
