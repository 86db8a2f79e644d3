// Alert and incident severity under Sentinel's names, lowest to highest.
import { z } from "zod";

export const Severity = z.enum(["Informational", "Low", "Medium", "High"]);
export type Severity = z.infer<typeof Severity>;
export const severityRank: Record<Severity, number> = { Informational: 0, Low: 1, Medium: 2, High: 3 };
