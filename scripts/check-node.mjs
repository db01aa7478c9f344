// Fails fast, with a clear message, when the scripts run on a Node older than 22.
// The workspace pins Node 22 as the `node` devDependency, so `pnpm <script>` runs on it
// even where the machine's own Node is older.
const major = Number(process.versions.node.split(".")[0])
if (!Number.isInteger(major) || major < 22) {
  console.error(
    `effect-mcp needs Node 22 or newer, but this script runs on Node ${process.versions.node}.\n` +
      "Run it through pnpm (\`pnpm test\`), which puts the pinned Node 22 from node_modules/.bin first on PATH,\n" +
      "or install Node 22+."
  )
  process.exit(1)
}
