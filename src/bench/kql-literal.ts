// A decoder of the string literals kqlString() writes, for the local query API and tests: verbatim @"..." (only
// `""` escaped) and regular "..." with \\, \" and \uXXXX escapes. Strict: anything else
// is an error, so a literal kqlString should never write fails loudly.

/** Matches one literal of either form at the start of the text. */
export const KQL_LITERAL = /@"(?:[^"]|"")*"|"(?:[^"\\]|\\\\|\\"|\\u[0-9a-f]{4})*"/y;

export function decodeKqlLiteral(literal: string): string {
  if (literal.startsWith('@"')) {
    if (!literal.endsWith('"') || literal.length < 3) throw new Error(`unterminated verbatim literal: ${literal}`);
    const body = literal.slice(2, -1);
    let out = "";
    for (let i = 0; i < body.length; i++) {
      if (body[i] !== '"') out += body[i];
      else if (body[i + 1] === '"') (out += '"'), i++;
      else throw new Error(`lone quote in verbatim literal: ${literal}`);
    }
    return out;
  }
  if (!literal.startsWith('"') || !literal.endsWith('"') || literal.length < 2) throw new Error(`not a string literal: ${literal}`);
  let out = "";
  const body = literal.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '"') throw new Error(`unescaped quote in literal: ${literal}`);
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = body[++i];
    if (next === "\\" || next === '"') out += next;
    else if (next === "u" && /^[0-9a-f]{4}$/.test(body.slice(i + 1, i + 5))) {
      out += String.fromCharCode(parseInt(body.slice(i + 1, i + 5), 16));
      i += 4;
    } else throw new Error(`unknown escape \\${next ?? ""} in literal: ${literal}`);
  }
  return out;
}

/** The literals of a comma-separated list such as `@"a", @"b"` (the scope's account list). */
export function decodeKqlLiteralList(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === " " || text[i] === ",") i++;
    if (i >= text.length) break;
    KQL_LITERAL.lastIndex = i;
    const m = KQL_LITERAL.exec(text);
    if (!m) throw new Error(`no string literal at ${i}: ${text.slice(i, i + 30)}`);
    out.push(decodeKqlLiteral(m[0]));
    i += m[0].length;
  }
  return out;
}
