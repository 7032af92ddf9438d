// A message's attachments: images previewed, every file downloadable. The bytes need the bearer
// token (GET /api/attachments/:id), so they are fetched and shown from a blob: URL.
import { Box, Button, Group, Image, Stack, Text } from "@mantine/core";
import { useEffect, useState } from "react";
import { fetchFile } from "../api";
import type { Attachment } from "../types";
import { useAction } from "./Action";
import { PaperclipIcon } from "./PaperclipIcon";
import { describe } from "./Thread";

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function isImage(attachment: Attachment): boolean {
  return attachment.contentType.startsWith("image/");
}

/** Hands the bytes to the browser as a download under the file's own name. */
function saveAs(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  // The download has its own copy once it started.
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function OneAttachment({ attachment }: { attachment: Attachment }) {
  const [preview, setPreview] = useState<string | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const { busy, error, run } = useAction();

  useEffect(() => {
    if (!isImage(attachment)) return;
    let url: string | null = null;
    let cancelled = false;
    fetchFile(attachment._id)
      .then((blob) => {
        if (cancelled) return;
        url = URL.createObjectURL(blob);
        setPreview(url);
      })
      .catch((e: unknown) => !cancelled && setPreviewError(`The preview could not be loaded: ${describe(e)}`));
    return () => {
      cancelled = true;
      if (url) URL.revokeObjectURL(url);
    };
  }, [attachment]);

  const download = () => run(async () => saveAs(await fetchFile(attachment._id), attachment.filename));

  return (
    <Stack gap={4} data-testid="attachment" data-filename={attachment.filename}>
      {preview && (
        <Image
          src={preview}
          alt={attachment.filename}
          fit="contain"
          // Never wider than the bubble, never blown up past its own size.
          style={{ width: "auto", maxWidth: "min(240px, 100%)", maxHeight: 240 }}
          radius="sm"
          data-testid="attachment-preview"
        />
      )}
      <Group gap={6} wrap="nowrap">
        <Box style={{ minWidth: 0 }}>
          <Group gap={4} wrap="nowrap">
            <PaperclipIcon size={14} />
            <Text size="sm" truncate maw={200}>
              {attachment.filename}
            </Text>
          </Group>
          <Text size="xs" c="dimmed">
            {formatSize(attachment.size)}
          </Text>
        </Box>
        <Button size="compact-xs" variant="light" loading={busy} onClick={() => void download()}>
          Download
        </Button>
      </Group>
      {(error || previewError) && (
        <Text size="xs" c="red" role="alert">
          {error ? `The file could not be downloaded: ${error}` : previewError}
        </Text>
      )}
    </Stack>
  );
}

export function AttachmentView({ attachments }: { attachments?: Attachment[] }) {
  if (!attachments || attachments.length === 0) return null;
  return (
    <Stack gap={6} my={4}>
      {attachments.map((a) => (
        <OneAttachment key={a._id} attachment={a} />
      ))}
    </Stack>
  );
}
