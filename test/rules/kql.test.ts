import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { between, datetimeDiff, dynamicGet, equalsCi, has, hasAny, hasTerms, isEmpty, isNotEmpty, isNull, notInCi, parseJson } from "../../src/rules/kql.js";
import { isoOf, toDateTime } from "../../src/model/time.js";
import { toString } from "../../src/model/rows.js";

const utc = (text: string): bigint => {
  const t = toDateTime(text);
  if (t === null) throw new Error(`bad test time ${text}`);
  return t;
};

describe("has", () => {
  it.each([
    // The rules' own uses.
    ["Update StsRefreshTokenValidFrom Timestamp", "StsRefreshTokenValidFrom", true],
    ["Directorysync@contoso.com", "Directorysync", true],
    ['[{"displayName":"DirectorySync"}]', "DirectorySync", true],
    ["DirectorySyncX", "DirectorySync", false],
    ["Microsoft Graph", "Microsoft Graph", true],
    ["Microsoft Intune API", "Microsoft Intune", true],
    ["Microsoft Intunes", "Microsoft Intune", false],
    ["admin@contoso.com", "@", true],
    ["Microsoft Cloud App Security", "@", false],
    // Docs examples: "North America" has "america", !has "amer"; a term inside a longer term does not match.
    ["North America", "america", true],
    ["North America", "amer", false],
    ["KustoExplorerQueryRun", "Explorer", false],
    // Term boundaries at the start and end of the haystack.
    ["abc", "abc", true],
    ["abc def", "abc", true],
    ["def abc", "abc", true],
    ["xabc", "abc", false],
    ["abcx", "abc", false],
    // Case.
    ["MULTIFACTOR authentication", "multifactor", true],
    ["multifactor", "MultiFactor", true],
    // Punctuation, underscore, digits and non-ASCII letters.
    ["ad67d136-c1db-4f9f", "c1db", true],
    ["ad67d136-c1db-4f9f", "c1d", false],
    ["Sync_Account", "Sync", true],
    ["Sync9", "Sync", false],
    ["caféteria", "caf", true], // é is not a term character, so it ends the term "caf"
    ["résumé", "sum", true],
    // Phrases and needles with punctuation match literally, bounded only at term-character edges.
    ["/subscriptions/x/resourcegroups/test.rg000001?api-version=1", "resourcegroups/test.rg000001", true],
    ["/subscriptions/x/resourcegroups/test.rg000001?api-version=1", "/resourcegroups/test.rg000001?", true],
    ["Microsoft  Intune", "Microsoft Intune", false],
    ["Microsoft-Intune", "Microsoft Intune", false],
    ["a@contoso.com", "@contoso.com", true],
    ["xcontoso.com", ".com", true],
    ["contoso.comx", ".com", false],
    // A later occurrence can match after an earlier one fails.
    ["xabc abc", "abc", true],
    ["abcabc abc", "abc", true],
    // Needle longer than the haystack; empty needle and haystack.
    ["abc", "abcd", false],
    ["abc", "", false],
    ["", "", false],
    ["", "abc", false],
  ])("%j has %j -> %s", (haystack, needle, expected) => {
    expect(has(haystack, needle)).toBe(expected);
  });

  it("folds ASCII case only (KQL's case-insensitive operators are ASCII-only)", () => {
    expect(has("ÉCOLE", "école")).toBe(false);
    expect(has("\u212Aelvin", "kelvin")).toBe(false); // the Kelvin sign is not an ASCII K
  });
});

describe("hasAny", () => {
  const intuneResources = ["Microsoft Intune", "Microsoft Intune API", "Device Management", "Windows 365", "Microsoft Graph"];

  it("matches when any needle is a term or phrase of the haystack", () => {
    expect(hasAny("Microsoft Graph", intuneResources)).toBe(true);
    expect(hasAny("microsoft intune enrollment", intuneResources)).toBe(true);
    expect(hasAny("Windows 3650", intuneResources)).toBe(false);
    expect(hasAny("Office 365 Exchange Online", intuneResources)).toBe(false);
  });

  it("is false for an empty list or only empty needles", () => {
    expect(hasAny("anything", [])).toBe(false);
    expect(hasAny("anything", [""])).toBe(false);
  });
});

describe("hasTerms", () => {
  // Characters that stress terms and case: letters of both cases, digits, separators, regex
  // metacharacters, and non-ASCII letters that other case foldings map to ASCII (Kelvin sign, long s, dotless i).
  const char = fc.constantFrom(..."aAbBkKsSiI09 _-.@*+?()[]\\|^$/\u212a\u017f\u0131\u00e9\u00c9");
  const text = fc.array(char, { maxLength: 12 }).map((cs) => cs.join(""));

  it("answers as hasAny for any haystack and needles, ASCII or not", () => {
    fc.assert(
      fc.property(fc.array(text, { maxLength: 4 }), text, (needles, haystack) => hasTerms(needles)(haystack) === hasAny(haystack, needles)),
      { numRuns: 20_000 },
    );
  });

  it("matches whole terms and phrases, ignoring ASCII case only", () => {
    const intune = hasTerms(["Microsoft Intune", "Microsoft Graph"]);
    expect(intune("microsoft intune enrollment")).toBe(true);
    expect(intune("Microsoft Intunes")).toBe(false);
    expect(hasTerms(["Multifactor"])('[{"authenticationMethod":"MULTIFACTOR"}]')).toBe(true);
    expect(hasTerms(["sk"])("\u017fk")).toBe(false);
    expect(hasTerms([])("anything")).toBe(false);
  });
});

describe("equalsCi and notInCi", () => {
  it("compares whole values ignoring ASCII case", () => {
    expect(equalsCi("StsRefreshTokensValidFrom", "stsrefreshtokensvalidfrom")).toBe(true);
    expect(equalsCi("StsRefreshTokensValidFrom", "StsRefreshTokensValidFrom ")).toBe(false);
    expect(equalsCi("StsRefreshTokenValidFrom", "StsRefreshTokensValidFrom")).toBe(false);
    expect(equalsCi("", "")).toBe(true);
    expect(equalsCi("É", "é")).toBe(false);
  });

  it("!in~ is true only when no element equals the value case-insensitively", () => {
    const allowed = ["Microsoft Cloud App Security", "ADConnectSyncAccount1", "SyncAccount2"];
    expect(notInCi("microsoft cloud app security", allowed)).toBe(false);
    expect(notInCi("ADCONNECTSYNCACCOUNT1", allowed)).toBe(false);
    expect(notInCi("ADConnectSyncAccount", allowed)).toBe(true); // a prefix is not equality
    expect(notInCi("admin@contoso.com", allowed)).toBe(true);
    expect(notInCi("x", [])).toBe(true);
  });
});

describe("between", () => {
  it("includes both ends", () => {
    expect(between(60_000, 60_000, 7_200_000)).toBe(true);
    expect(between(7_200_000, 60_000, 7_200_000)).toBe(true);
    expect(between(59_999, 60_000, 7_200_000)).toBe(false);
    expect(between(7_200_001, 60_000, 7_200_000)).toBe(false);
    expect(between(Number.NaN, 0, 1)).toBe(false);
  });

  it("compares exact datetimes: one 100-ns tick past either end is out", () => {
    const minute = 600_000_000n;
    expect(between(minute, minute, 120n * minute)).toBe(true);
    expect(between(minute - 1n, minute, 120n * minute)).toBe(false);
    expect(between(120n * minute + 1n, minute, 120n * minute)).toBe(false);
  });
});

describe("datetimeDiff", () => {
  // The example table of the datetime_diff() docs.
  it.each([
    ["year", "2017-01-01T00:00:00Z", "2000-12-31T00:00:00Z", 17],
    ["quarter", "2017-07-01T00:00:00Z", "2017-03-30T00:00:00Z", 2],
    ["month", "2017-01-01T00:00:00Z", "2015-12-30T00:00:00Z", 13],
    ["week", "2017-10-29T00:00:00Z", "2017-09-30T23:59:00Z", 5],
    ["day", "2017-10-29T00:00:00Z", "2017-09-30T23:59:00Z", 29],
    ["hour", "2017-10-31T01:00:00Z", "2017-10-30T23:59:00Z", 2],
    ["minute", "2017-10-30T23:05:01Z", "2017-10-30T23:00:59Z", 5],
    ["second", "2017-10-30T23:00:10.100Z", "2017-10-30T23:00:00.900Z", 10],
    ["millisecond", "2017-10-30T23:00:00.200100Z", "2017-10-30T23:00:00.100900Z", 100],
  ] as const)("docs example: %s", (period, a, b, expected) => {
    expect(datetimeDiff(period, toDateTime(a), toDateTime(b))).toBe(expected);
  });

  it("counts boundaries crossed, not elapsed whole periods", () => {
    expect(datetimeDiff("minute", utc("2021-08-02T10:01:00Z"), utc("2021-08-02T10:00:59Z"))).toBe(1);
    expect(datetimeDiff("minute", utc("2021-08-02T10:00:59Z"), utc("2021-08-02T10:01:00Z"))).toBe(-1);
    expect(datetimeDiff("minute", utc("2021-08-02T10:00:00Z"), utc("2021-08-02T10:00:59.999Z"))).toBe(0);
    expect(datetimeDiff("year", utc("2021-01-01T00:00:00Z"), utc("2020-12-31T23:59:59.999Z"))).toBe(1);
    expect(datetimeDiff("day", utc("2021-08-03T00:00:00Z"), utc("2021-08-02T23:59:59Z"))).toBe(1);
    expect(datetimeDiff("hour", utc("2021-08-02T10:59:00Z"), utc("2021-08-02T10:00:00Z"))).toBe(0);
  });

  it("is negative when the first datetime is earlier", () => {
    expect(datetimeDiff("month", utc("2015-12-30T00:00:00Z"), utc("2017-01-01T00:00:00Z"))).toBe(-13);
    expect(datetimeDiff("quarter", utc("2017-03-31T00:00:00Z"), utc("2017-04-01T00:00:00Z"))).toBe(-1);
    expect(datetimeDiff("second", utc("2017-10-30T23:00:00.900Z"), utc("2017-10-30T23:00:10.100Z"))).toBe(-10);
  });

  it("starts weeks on Sunday", () => {
    // 2017-10-01 was a Sunday.
    expect(datetimeDiff("week", utc("2017-10-01T00:00:00Z"), utc("2017-09-30T23:59:59Z"))).toBe(1);
    expect(datetimeDiff("week", utc("2017-10-07T23:59:59Z"), utc("2017-10-01T00:00:00Z"))).toBe(0);
    expect(datetimeDiff("week", utc("2017-10-02T00:00:00Z"), utc("2017-10-01T00:00:00Z"))).toBe(0); // Monday, same week
    expect(datetimeDiff("week", utc("1970-01-03T00:00:00Z"), utc("1970-01-04T00:00:00Z"))).toBe(-1); // the epoch week
    expect(datetimeDiff("week", utc("1969-12-27T12:00:00Z"), utc("1969-12-28T00:00:00Z"))).toBe(-1); // before the epoch
  });

  it("truncates before-epoch instants toward the past", () => {
    expect(datetimeDiff("day", utc("1970-01-01T00:00:00Z"), utc("1969-12-31T23:59:59Z"))).toBe(1);
    expect(datetimeDiff("minute", utc("1970-01-01T00:00:00Z"), utc("1969-12-31T23:59:59.999Z"))).toBe(1);
  });

  it("counts microseconds and nanoseconds on the 100-ns ticks", () => {
    expect(datetimeDiff("microsecond", utc("2017-10-30T23:00:00.002Z"), utc("2017-10-30T23:00:00.001Z"))).toBe(1_000);
    expect(datetimeDiff("nanosecond", utc("2017-10-30T23:00:00.001Z"), utc("2017-10-30T23:00:00.002Z"))).toBe(-1_000_000);
    expect(datetimeDiff("microsecond", utc("2017-10-30T23:00:00.0000015Z"), utc("2017-10-30T23:00:00.0000005Z"))).toBe(1);
    expect(datetimeDiff("nanosecond", utc("2017-10-30T23:00:00.0000001Z"), utc("2017-10-30T23:00:00.0000000Z"))).toBe(100);
    expect(datetimeDiff("millisecond", utc("2017-10-30T23:00:00.0020000Z"), utc("2017-10-30T23:00:00.0019999Z"))).toBe(1);
    expect(datetimeDiff("millisecond", utc("2017-10-30T23:00:00.0019999Z"), utc("2017-10-30T23:00:00.0010000Z"))).toBe(0);
  });

  it("gives null for a null datetime", () => {
    expect(datetimeDiff("minute", null, utc("2021-08-02T10:00:00Z"))).toBeNull();
    expect(datetimeDiff("minute", utc("2021-08-02T10:00:00Z"), null)).toBeNull();
    expect(datetimeDiff("minute", null, null)).toBeNull();
  });
});

describe("toDateTime", () => {
  it.each([
    ["2021-08-02T13:11:39.7724491Z", "2021-08-02T13:11:39.7724491Z"], // KQL's 100-ns ticks, kept
    ["2021-08-02T13:11:39.9999999Z", "2021-08-02T13:11:39.9999999Z"],
    ["2021-08-02T13:11:39.123456789Z", "2021-08-02T13:11:39.1234567Z"], // past 7 digits: truncated
    ["2021-08-02T13:11:39.1230000Z", "2021-08-02T13:11:39.123Z"],
    ["2021-08-02T13:11:39Z", "2021-08-02T13:11:39.000Z"],
    ["2021-08-02T13:11:39", "2021-08-02T13:11:39.000Z"], // no zone: UTC, not local time
    ["2021-08-02 13:11:39.5", "2021-08-02T13:11:39.500Z"],
    ["2021-08-02T13:11", "2021-08-02T13:11:00.000Z"],
    ["2021-08-02", "2021-08-02T00:00:00.000Z"],
    ["2014-11-8 15:05:25 GMT", "2014-11-08T15:05:25.000Z"],
    ["2021-08-02T15:11:39+02:00", "2021-08-02T13:11:39.000Z"],
    ["2021-08-02T08:11:39-0500", "2021-08-02T13:11:39.000Z"],
    ["  2021-08-02T13:11:39Z  ", "2021-08-02T13:11:39.000Z"],
    ["Sat, 8 Nov 14 15:05:02 GMT", "2014-11-08T15:05:02.000Z"],
    ["8 Nov 14 15:05", "2014-11-08T15:05:00.000Z"],
    ["Saturday, 08-Nov-14 15:05:02 GMT", "2014-11-08T15:05:02.000Z"],
    ["0099-01-01T00:00:00Z", "0099-01-01T00:00:00.000Z"],
  ])("%j", (text, iso) => {
    expect(isoOf(toDateTime(text)!)).toBe(iso);
  });

  it.each(["", "not a date", "2021-02-30T00:00:00Z", "2021-13-01", "2021-08-02T24:00:00Z", "2021-08-02T13:61:00Z", "[\"2021-08-02T13:11:39Z\"]", "1627909899772"])(
    "%j is null",
    (text) => {
      expect(toDateTime(text)).toBeNull();
    },
  );

  it("takes a number as a datetime already and rejects other types", () => {
    expect(toDateTime(1_627_909_899_772)).toBe(16_279_098_997_720_000n);
    expect(toDateTime(1_627_909_899_772.5)).toBe(16_279_098_997_725_000n);
    expect(toDateTime(new Date("2021-08-02T13:11:39Z"))).toBe(utc("2021-08-02T13:11:39Z"));
    expect(toDateTime(Number.NaN)).toBeNull();
    expect(toDateTime(null)).toBeNull();
    expect(toDateTime(undefined)).toBeNull();
    expect(toDateTime(true)).toBeNull();
    expect(toDateTime(["2021-08-02T13:11:39Z"])).toBeNull();
  });
});

describe("parseJson", () => {
  it("parses JSON text", () => {
    expect(parseJson('["2021-08-02T13:11:39.7724491Z"]')).toEqual(["2021-08-02T13:11:39.7724491Z"]);
    expect(parseJson('{"a":1,"b":[true,null]}')).toEqual({ a: 1, b: [true, null] });
    expect(parseJson("21")).toBe(21);
    expect(parseJson('"21"')).toBe("21");
    expect(parseJson(" [] ")).toEqual([]);
  });

  it("returns a value that is already dynamic as is", () => {
    const bag = { ID: "x" };
    expect(parseJson(bag)).toBe(bag);
    expect(parseJson(42)).toBe(42);
    expect(parseJson(null)).toBeNull();
    expect(parseJson(undefined)).toBeUndefined();
  });

  it("keeps text that is not JSON as that text, and reads empty text as null", () => {
    expect(parseJson("Directorysync")).toBe("Directorysync");
    expect(parseJson("{not json")).toBe("{not json");
    expect(parseJson("")).toBeNull();
  });
});

describe("toString", () => {
  it.each([
    [null, ""],
    [undefined, ""],
    ["text", "text"],
    ["", ""],
    [true, "true"],
    [false, "false"],
    [123, "123"],
    [1.5, "1.5"],
    [-0.25, "-0.25"],
    [["2021-08-02T13:11:39Z"], '["2021-08-02T13:11:39Z"]'],
    [{ a: 1, b: { c: [1, "x"] } }, '{"a":1,"b":{"c":[1,"x"]}}'],
    [[], "[]"],
    [{}, "{}"],
  ])("%j -> %j", (value, expected) => {
    expect(toString(value)).toBe(expected);
  });

  it("round-trips with parseJson, as tostring/parse_json do in the rules", () => {
    const oldValue = ["2021-08-02T13:11:39.7724491Z"];
    expect(dynamicGet(parseJson(toString(oldValue)), 0)).toBe("2021-08-02T13:11:39.7724491Z");
    const asText = '["2021-08-02T13:11:39.7724491Z"]';
    expect(dynamicGet(parseJson(toString(asText)), 0)).toBe("2021-08-02T13:11:39.7724491Z");
  });
});

describe("dynamicGet", () => {
  const raw = {
    ModifiedProperties: [{ Name: "StsRefreshTokensValidFrom", OldValue: '["2021-08-01T00:00:00Z"]', NewValue: null }],
    Actor: [{ ID: "admin@contoso.com", Type: 5 }, { ID: "Application", Type: 2 }, '{"ID":"last"}'],
    Nested: '{"inside":1}',
  };

  it("walks property bags and arrays", () => {
    expect(dynamicGet(raw, "ModifiedProperties", 0, "Name")).toBe("StsRefreshTokensValidFrom");
    expect(dynamicGet(raw, "ModifiedProperties", 0, "OldValue")).toBe('["2021-08-01T00:00:00Z"]');
    expect(dynamicGet(raw, "ModifiedProperties", 0, "NewValue")).toBeNull();
    expect(dynamicGet(raw)).toBe(raw);
  });

  it("counts a negative index from the end", () => {
    expect(dynamicGet(raw, "Actor", -1)).toBe('{"ID":"last"}');
    expect(dynamicGet(raw, "Actor", -3, "ID")).toBe("admin@contoso.com");
    expect(dynamicGet(raw, "Actor", -4)).toBeUndefined();
    expect(dynamicGet([], -1)).toBeUndefined();
  });

  it("does not parse JSON text on the way (callers use parseJson)", () => {
    expect(dynamicGet(raw, "Actor", -1, "ID")).toBeUndefined();
    expect(dynamicGet(parseJson(dynamicGet(raw, "Actor", -1)), "ID")).toBe("last");
    expect(dynamicGet(raw, "Nested", "inside")).toBeUndefined();
    expect(dynamicGet(raw, "ModifiedProperties", 0, "OldValue", 0)).toBeUndefined();
  });

  it("gives undefined for any step that does not apply", () => {
    expect(dynamicGet(raw, "Missing", 0)).toBeUndefined();
    expect(dynamicGet(raw, "ModifiedProperties", 5)).toBeUndefined();
    expect(dynamicGet(raw, "ModifiedProperties", "0")).toBeUndefined(); // a key on an array
    expect(dynamicGet(raw, 0)).toBeUndefined(); // an index on a bag
    expect(dynamicGet(raw, "ModifiedProperties", 0.5)).toBeUndefined();
    expect(dynamicGet(null, "a")).toBeUndefined();
    expect(dynamicGet(undefined, 0)).toBeUndefined();
    expect(dynamicGet(raw, "ModifiedProperties", 0, "NewValue", "x")).toBeUndefined();
    expect(dynamicGet({}, "constructor")).toBeUndefined(); // own properties only
    expect(dynamicGet({}, "__proto__")).toBeUndefined();
  });

  it("is case-sensitive about property names", () => {
    expect(dynamicGet(raw, "modifiedProperties")).toBeUndefined();
  });
});

describe("isEmpty, isNotEmpty, isNull", () => {
  it.each([
    [null, true, true],
    [undefined, true, true],
    ["", true, false],
    ["x", false, false],
    [" ", false, false],
    [0, false, false],
    [false, false, false],
    [[], false, false],
    [{}, false, false],
  ])("%j: isempty %s, isnull %s", (value, empty, isNullExpected) => {
    expect(isEmpty(value)).toBe(empty);
    expect(isNotEmpty(value)).toBe(!empty);
    expect(isNull(value)).toBe(isNullExpected);
  });

  it("agrees with the docs tables for parse_json values", () => {
    expect(isEmpty(parseJson(""))).toBe(true);
    expect(isNull(parseJson(""))).toBe(true);
    expect(isEmpty(parseJson("[]"))).toBe(false);
    expect(isNull(parseJson("{}"))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------
// Property test: `has` against a slow reference that works on token lists instead of
// string positions.

/** ASCII-only lower-casing, written independently of the implementation. */
function refLower(s: string): string {
  let out = "";
  for (const ch of s) out += ch >= "A" && ch <= "Z" ? String.fromCharCode(ch.charCodeAt(0) + 32) : ch;
  return out;
}

/** Splits text into alternating runs: terms (ASCII letters/digits) and separators (the rest). */
function tokenize(s: string): { text: string; term: boolean }[] {
  return [...s.matchAll(/[A-Za-z0-9]+|[^A-Za-z0-9]+/g)].map((m) => ({ text: m[0], term: /^[A-Za-z0-9]/.test(m[0]) }));
}

/**
 * The needle's token sequence must appear in the haystack's, contiguously: inner tokens equal;
 * a term at either end equal to a whole haystack term; a separator at the start a suffix of a
 * haystack separator, at the end a prefix; a lone separator anywhere inside one.
 */
function refHas(haystack: string, needle: string): boolean {
  const h = tokenize(refLower(haystack));
  const n = tokenize(refLower(needle));
  if (n.length === 0) return false;
  const first = n[0]!;
  const last = n[n.length - 1]!;
  for (let j = 0; j + n.length <= h.length; j++) {
    if (n.length === 1) {
      const t = h[j]!;
      if (t.term === first.term && (first.term ? t.text === first.text : t.text.includes(first.text))) return true;
      continue;
    }
    let ok = true;
    for (let k = 0; k < n.length && ok; k++) {
      const t = h[j + k]!;
      const want = n[k]!;
      if (t.term !== want.term) ok = false;
      else if (want.term || (k > 0 && k < n.length - 1)) ok = t.text === want.text;
      else if (k === 0) ok = t.text.endsWith(first.text);
      else ok = t.text.startsWith(last.text);
    }
    if (ok) return true;
  }
  return false;
}

describe("has property", () => {
  // A small alphabet so that matches and near-misses are common: letters in both cases,
  // a digit, separators (space, '-', '_', '.', '@') and non-ASCII letters.
  const char = fc.constantFrom("a", "b", "A", "B", "1", " ", "-", "_", ".", "@", "é", "\u212A", "k", "K");
  const text = (maxLength: number) => fc.string({ unit: char, maxLength });

  it("agrees with the token-based reference on random needles", () => {
    fc.assert(
      fc.property(text(24), text(6), (haystack, needle) => {
        expect(has(haystack, needle)).toBe(refHas(haystack, needle));
      }),
      { numRuns: 3000 },
    );
  });

  it("agrees with the token-based reference on needles cut from the haystack", () => {
    const cut = text(24).chain((haystack) =>
      fc
        .tuple(fc.nat({ max: haystack.length }), fc.nat({ max: haystack.length }))
        .map(([x, y]) => ({ haystack, needle: haystack.slice(Math.min(x, y), Math.max(x, y)) })),
    );
    fc.assert(
      fc.property(cut, fc.boolean(), ({ haystack, needle }, upper) => {
        const n = upper ? needle.toUpperCase() : needle;
        expect(has(haystack, n)).toBe(refHas(haystack, n));
      }),
      { numRuns: 3000 },
    );
  });

  it("hasAny is has over the list", () => {
    fc.assert(
      fc.property(text(24), fc.array(text(6), { maxLength: 4 }), (haystack, needles) => {
        expect(hasAny(haystack, needles)).toBe(needles.some((n) => refHas(haystack, n)));
      }),
      { numRuns: 1000 },
    );
  });
});
