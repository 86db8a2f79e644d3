// What a Teams Workflows webhook and a Slack incoming webhook would accept, as checks for
// the test receivers: the Workflows "message with attachments" envelope around an Adaptive
// Card validated with Ajv against the official Adaptive Card 1.5 JSON schema (vendored in
// test/fixtures/adaptive-card, source noted there), and Slack's Block Kit limits.
import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { z } from "zod";

const cardSchema = JSON.parse(readFileSync(new URL("../fixtures/adaptive-card/adaptive-card-1.5.json", import.meta.url), "utf8")) as Record<string, unknown>;
// The schema is draft-06 and carries documentation keywords of its own ("version", "features"): not strict.
const draft06 = JSON.parse(readFileSync(new URL("../../node_modules/ajv/dist/refs/json-schema-draft-06.json", import.meta.url), "utf8")) as Record<string, unknown>;
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addMetaSchema(draft06);
addFormats.default(ajv);
// Its root names itself with draft-04's `id`, which Ajv 8 reads only as `$id`.
const { id: schemaId, ...schemaBody } = cardSchema;
const validateCard = ajv.compile({ $id: schemaId, ...schemaBody });

const TeamsEnvelope = z.strictObject({
  type: z.literal("message"),
  attachments: z
    .array(z.strictObject({ contentType: z.literal("application/vnd.microsoft.card.adaptive"), contentUrl: z.null(), content: z.record(z.string(), z.unknown()) }))
    .length(1),
});

/** Problems a Teams Workflows webhook would have with the body; [] when it is a valid message. */
export function teamsProblems(body: string): string[] {
  const envelope = TeamsEnvelope.safeParse(JSON.parse(body));
  if (!envelope.success) return envelope.error.issues.map((i) => `envelope ${i.path.join(".")}: ${i.message}`);
  const card = envelope.data.attachments[0]!.content;
  const problems: string[] = [];
  if (card.type !== "AdaptiveCard" || card.version !== "1.5") problems.push(`not an AdaptiveCard 1.5: ${String(card.type)} ${String(card.version)}`);
  if (!validateCard(card)) problems.push(...(validateCard.errors ?? []).map((e) => `card ${e.instancePath}: ${e.message}`));
  // Teams refuses cards over about 28 KB.
  if (JSON.stringify(card).length > 28_000) problems.push(`card of ${JSON.stringify(card).length} characters`);
  return problems;
}

/** Block Kit limits (docs.slack.dev block reference) on the parts our messages use. */
const TextObject = z.object({ type: z.enum(["plain_text", "mrkdwn"]), text: z.string().min(1) });
const SlackBlock = z.discriminatedUnion("type", [
  z.object({ type: z.literal("header"), text: TextObject.extend({ type: z.literal("plain_text"), text: z.string().min(1).max(150) }) }),
  z.object({
    type: z.literal("section"),
    text: TextObject.extend({ text: z.string().min(1).max(3000) }).optional(),
    fields: z.array(TextObject.extend({ text: z.string().min(1).max(2000) })).max(10).optional(),
  }),
  z.object({ type: z.literal("context"), elements: z.array(TextObject.extend({ text: z.string().min(1).max(3000) })).min(1).max(10) }),
  z.object({
    type: z.literal("actions"),
    elements: z
      .array(z.object({ type: z.literal("button"), text: TextObject.extend({ type: z.literal("plain_text"), text: z.string().max(75) }), url: z.url().max(3000).optional(), action_id: z.string().max(255) }))
      .min(1)
      .max(25),
  }),
]);
export const SlackMessage = z.strictObject({ text: z.string().min(1).max(40_000), blocks: z.array(SlackBlock).min(1).max(50) });

/** Problems a Slack incoming webhook would have with the body; [] when it is within Block Kit's limits. */
export function slackProblems(body: string): string[] {
  const message = SlackMessage.safeParse(JSON.parse(body));
  if (message.success) {
    const empty = message.data.blocks.filter((b) => b.type === "section" && !b.text && !b.fields);
    return empty.length > 0 ? ["a section needs text or fields"] : [];
  }
  return message.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

/** A message's facts by label, as the reader sees them (Teams FactSet, Slack section fields). */
export function factsOf(format: "teams" | "slack", body: Record<string, any>): Record<string, string> {
  if (format === "teams") {
    const factSet = body.attachments[0].content.body.find((e: { type: string }) => e.type === "FactSet");
    return Object.fromEntries(factSet.facts.map((f: { title: string; value: string }) => [f.title, f.value]));
  }
  const fields = body.blocks.find((b: { fields?: unknown }) => b.fields).fields as { text: string }[];
  return Object.fromEntries(fields.map((f) => /^\*(.+?)\*\n([\s\S]*)$/.exec(f.text)!.slice(1, 3) as [string, string]));
}

/** The incident link a message opens. */
export function linkOf(format: "teams" | "slack", body: Record<string, any>): string | undefined {
  if (format === "teams") return body.attachments[0].content.actions?.[0]?.url;
  return body.blocks.find((b: { type: string }) => b.type === "actions")?.elements[0].url;
}
