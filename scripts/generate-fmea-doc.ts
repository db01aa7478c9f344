/**
 * Writes `docs/fmea.md` from the FMEA catalogue (`pnpm docs:fmea`). A test fails when the committed file
 * differs from what this would write.
 */
import * as fs from "node:fs"
import { FmeaReport } from "@effect-mcp/faults"

const target = new URL("../docs/fmea.md", import.meta.url)
fs.writeFileSync(target, FmeaReport.renderMarkdown())
process.stdout.write(`wrote ${target.pathname}\n`)
