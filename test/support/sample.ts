/** How tests launch the sample MCP server as a real child process (Node 22 + tsx, no shell). */
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

/** The tsx CLI entry, run with the current Node. */
export const tsxCli = createRequire(import.meta.url).resolve("tsx/cli")

/** The sample app's entry point. */
export const sampleMain = fileURLToPath(new URL("../../apps/sample/src/main.ts", import.meta.url))

/** Command and arguments that start the sample server on stdio. */
export const sampleServerCommand = {
  command: process.execPath,
  args: [tsxCli, sampleMain, "--transport", "stdio"]
} as const
