import { z } from 'zod';

/**
 * The events a client may send (`BetaManagedAgentsEventParams`, spec §5.2 and §5.4), as zod schemas.
 * Strict: an unknown field is a 400 naming it, so typos do not silently vanish.
 */

const text = z.strictObject({ type: z.literal('text'), text: z.string() });

const base64Source = z.strictObject({ type: z.literal('base64'), media_type: z.string().min(1), data: z.string().min(1) });
const urlSource = z.strictObject({ type: z.literal('url'), url: z.string().url() });
const fileSource = z.strictObject({ type: z.literal('file'), file_id: z.string().min(1) });

const image = z.strictObject({
  type: z.literal('image'),
  source: z.discriminatedUnion('type', [base64Source, urlSource, fileSource]),
});

const document = z.strictObject({
  type: z.literal('document'),
  source: z.discriminatedUnion('type', [
    base64Source,
    z.strictObject({ type: z.literal('text'), media_type: z.literal('text/plain'), data: z.string() }),
    urlSource,
    fileSource,
  ]),
  title: z.string().nullable().optional(),
  context: z.string().nullable().optional(),
});

const searchResult = z.strictObject({
  type: z.literal('search_result'),
  source: z.string(),
  title: z.string(),
  content: z.array(text),
  citations: z.strictObject({ enabled: z.boolean() }).optional(),
});

/** `{type: "redacted"}` is server output only: in user input it is a 400 with this message. */
const redacted = z.strictObject({ type: z.literal('redacted') }).refine(() => false, 'redacted blocks are server output and cannot be sent');

const messageContent = z.array(z.discriminatedUnion('type', [text, image, document, redacted])).min(1, 'content needs at least one block');
const resultContent = z.array(z.discriminatedUnion('type', [text, image, document, searchResult]));

export const UserMessage = z.strictObject({ type: z.literal('user.message'), content: messageContent });

export const UserInterrupt = z.strictObject({
  type: z.literal('user.interrupt'),
  session_thread_id: z.string().nullable().optional(),
});

export const UserToolConfirmation = z
  .strictObject({
    type: z.literal('user.tool_confirmation'),
    tool_use_id: z.string().min(1),
    result: z.enum(['allow', 'deny']),
    deny_message: z.string().nullable().optional(),
    session_thread_id: z.string().nullable().optional(),
  })
  .refine((event) => event.result === 'deny' || event.deny_message == null, { message: 'deny_message is only allowed with result "deny"', path: ['deny_message'] });

export const UserCustomToolResult = z.strictObject({
  type: z.literal('user.custom_tool_result'),
  custom_tool_use_id: z.string().min(1),
  content: resultContent.optional(),
  is_error: z.boolean().nullable().optional(),
  session_thread_id: z.string().nullable().optional(),
});

export const UserToolResult = z.strictObject({
  type: z.literal('user.tool_result'),
  tool_use_id: z.string().min(1),
  content: resultContent.optional(),
  is_error: z.boolean().nullable().optional(),
  session_thread_id: z.string().nullable().optional(),
});

export const UserDefineOutcome = z.strictObject({
  type: z.literal('user.define_outcome'),
  description: z.string().min(1),
  rubric: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('text'), content: z.string().min(1).max(262_144) }),
    z.strictObject({ type: z.literal('file'), file_id: z.string().min(1) }),
  ]),
  max_iterations: z.number().int().min(1).max(20).nullable().optional(),
});

export const SystemMessage = z.strictObject({
  type: z.literal('system.message'),
  content: z.array(text).min(1).max(1000),
});

/** The types a client may send, for the "unknown event type" message. */
export const SENDABLE_TYPES = [
  'user.message',
  'user.interrupt',
  'user.tool_confirmation',
  'user.custom_tool_result',
  'user.tool_result',
  'user.define_outcome',
  'system.message',
] as const;

const schemas = {
  'user.message': UserMessage,
  'user.interrupt': UserInterrupt,
  'user.tool_confirmation': UserToolConfirmation,
  'user.custom_tool_result': UserCustomToolResult,
  'user.tool_result': UserToolResult,
  'user.define_outcome': UserDefineOutcome,
  'system.message': SystemMessage,
} satisfies Record<(typeof SENDABLE_TYPES)[number], z.ZodType>;

export type SendableEvent =
  | z.infer<typeof UserMessage>
  | z.infer<typeof UserInterrupt>
  | z.infer<typeof UserToolConfirmation>
  | z.infer<typeof UserCustomToolResult>
  | z.infer<typeof UserToolResult>
  | z.infer<typeof UserDefineOutcome>
  | z.infer<typeof SystemMessage>;

/** One event param, checked; `path` prefixes messages (e.g. `events.2`). Returns the issue text on failure. */
export function parseEvent(value: unknown, path: string): { event: SendableEvent } | { error: string } {
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !(type in schemas)) {
    return { error: `${path}.type: ${JSON.stringify(type)} is not an event type a client can send (one of ${SENDABLE_TYPES.join(', ')})` };
  }
  const parsed = schemas[type as keyof typeof schemas].safeParse(value);
  if (parsed.success) return { event: parsed.data as SendableEvent };
  return { error: parsed.error.issues.map((issue) => `${[path, ...issue.path].join('.')}: ${issue.message}`).join('; ') };
}
