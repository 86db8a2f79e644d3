// kqlString is the only way a user value reaches KQL (the pivot's account list). Property:
// for any string, the literal it writes is ONE string-literal token to the Kusto parser,
// analyses without errors inside `print x = <literal>`, and decodes back to the same
// string, both by Kusto.Language's own literal value and by our small decoder.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { kqlString } from "../../src/model/query.js";
import { decodeKqlLiteral, decodeKqlLiteralList } from "../support/kql-literal.js";
import { loadKusto, validateKql } from "../support/kusto.js";

interface Token {
  Kind: number;
  Text: string;
  Parent: { LiteralValue?: unknown } | null;
  GetNextToken(): Token | null;
}
interface KustoParsing {
  KustoCode: { Parse(text: string): { Syntax: { GetFirstToken(): Token | null } } };
  Syntax: { SyntaxKind: { StringLiteralToken: number } };
}
let kusto: KustoParsing;

beforeAll(() => {
  loadKusto(); // registers the global Kusto.Language
  kusto = (globalThis as unknown as { Kusto: { Language: KustoParsing } }).Kusto.Language;
});

function tokens(text: string): Token[] {
  const out: Token[] = [];
  for (let t = kusto.KustoCode.Parse(text).Syntax.GetFirstToken(); t; t = t.GetNextToken()) out.push(t);
  return out;
}

/** Strings rich in what breaks quoting: quotes, backslashes, control and separator characters, any code point. */
const awkward = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('"', "'", "\\", "@", "\n", "\r", "\t", "\u0000", "\u001f", "\u007f", "\u2028", "\u2029", "#", "a", " ", "é", "😀"), maxLength: 30 }),
  fc.constantFrom("", '"', '""', "\\", '\\"', '@"', 'x" or 1==1 or "', "guest_user#EXT#@contoso.onmicrosoft.com"),
);

describe("kqlString", () => {
  it("writes one string literal that Kusto decodes to the same value, for any string", () => {
    fc.assert(
      fc.property(awkward, (value) => {
        const literal = kqlString(value);
        const text = `print x = ${literal}`;
        expect(validateKql(text)).toEqual([]);
        const toks = tokens(text).filter((t) => t.Text !== "");
        expect(toks.map((t) => t.Text)).toEqual(["print", "x", "=", literal]);
        const token = toks[3]!;
        expect(token.Kind).toBe(kusto.Syntax.SyntaxKind.StringLiteralToken);
        expect(token.Parent?.LiteralValue).toBe(value);
        expect(decodeKqlLiteral(literal)).toBe(value);
      }),
      { numRuns: 250 },
    );
  });

  it("keeps a list of literals (the scope's account list) apart: each element decodes to its own value", () => {
    fc.assert(
      fc.property(fc.array(awkward, { maxLength: 6 }), (values) => {
        const list = values.map(kqlString).join(", ");
        if (values.length > 0) expect(validateKql(`print x = dynamic([${list}])`)).toEqual([]);
        expect(decodeKqlLiteralList(list)).toEqual(values);
      }),
      { numRuns: 100 },
    );
  });

  it("our decoder rejects what kqlString never writes (so the round trip above is a real check)", () => {
    expect(() => decodeKqlLiteral('@"a"b"')).toThrow(/lone quote/);
    expect(() => decodeKqlLiteral('"a\\nb"')).toThrow(/unknown escape/);
    expect(() => decodeKqlLiteral("'a'")).toThrow(/not a string literal/);
  });
});
