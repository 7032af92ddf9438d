// The composer's attachments: files chosen are uploaded at once (POST .../attachments) and wait,
// shown as chips, until the message that carries their ids is sent.
import { ActionIcon, Badge, CloseButton, FileButton, Group, Loader, Text } from "@mantine/core";
import { useCallback, useEffect, useState } from "react";
import { uploadFile } from "../api";
import type { Attachment } from "../types";
import { formatSize } from "./AttachmentView";
import { PaperclipIcon } from "./PaperclipIcon";
import { describe } from "./Thread";

export interface Uploads {
  pending: Attachment[];
  uploading: number;
  error: string | null;
  add: (files: File[]) => void;
  remove: (id: string) => void;
  clear: () => void;
  restore: (attachments: Attachment[]) => void;
  /** Attaches the files of a paste or a drop (and keeps the browser from inserting them). */
  take: (event: { preventDefault: () => void }, data: DataTransfer | null) => void;
}

export function useUploads(conversationId: string): Uploads {
  const [pending, setPending] = useState<Attachment[]>([]);
  const [uploading, setUploading] = useState(0);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setPending([]);
    setError(null);
  }, [conversationId]);

  const add = useCallback(
    (files: File[]) => {
      setError(null);
      for (const file of files) {
        setUploading((n) => n + 1);
        uploadFile<Attachment>(conversationId, file)
          // (More than the server's MAX_ATTACHMENTS on one message: the send says so in words.)
          .then((stored) => setPending((current) => [...current, stored]))
          .catch((e: unknown) => setError(`${file.name}: ${describe(e)}`))
          .finally(() => setUploading((n) => n - 1));
      }
    },
    [conversationId],
  );

  return {
    pending,
    uploading,
    error,
    add,
    remove: (id) => setPending((current) => current.filter((a) => a._id !== id)),
    clear: () => setPending([]),
    restore: setPending,
    take: (event, data) => {
      const files = Array.from(data?.files ?? []);
      if (files.length === 0) return;
      event.preventDefault();
      add(files);
    },
  };
}

/** The paper-clip button that picks files. */
export function AttachButton({ uploads, disabled }: { uploads: Uploads; disabled?: boolean }) {
  return (
    <FileButton onChange={(files) => files.length && uploads.add(files)} multiple>
      {(props) => (
        <ActionIcon
          {...props}
          size="lg"
          variant="default"
          aria-label="Attach files"
          disabled={disabled}
          data-testid="attach"
        >
          {uploads.uploading > 0 ? <Loader size="xs" /> : <PaperclipIcon size={18} />}
        </ActionIcon>
      )}
    </FileButton>
  );
}

/** What will go with the next message, each removable; the upload's error in words. */
export function PendingUploads({ uploads }: { uploads: Uploads }) {
  if (uploads.pending.length === 0 && uploads.uploading === 0 && !uploads.error) return null;
  return (
    <Group gap={6} data-testid="pending-attachments">
      {uploads.pending.map((a) => (
        <Badge
          key={a._id}
          variant="light"
          size="lg"
          tt="none"
          rightSection={<CloseButton size="xs" aria-label={`Remove ${a.filename}`} onClick={() => uploads.remove(a._id)} />}
        >
          {a.filename} · {formatSize(a.size)}
        </Badge>
      ))}
      {uploads.uploading > 0 && (
        <Text size="xs" c="dimmed">
          Uploading…
        </Text>
      )}
      {uploads.error && (
        <Text size="xs" c="red" role="alert">
          {uploads.error}
        </Text>
      )}
    </Group>
  );
}
