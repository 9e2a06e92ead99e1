// End-to-end check of the alert tools and the infra://alerts resource with the official TypeScript SDK (#12).
//
//   node alerts.mjs <mcp-url> <read-token> <operate-token> <firing-alert-id>
//
// Run by alerts_test.go against a whole running system. A failed check exits 1; on success the last line of stdout
// is a JSON summary the Go test asserts on.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, readToken, operateToken, alertID] = process.argv.slice(2);
if (!url || !readToken || !operateToken || !alertID) {
  console.error("usage: node alerts.mjs <mcp-url> <read-token> <operate-token> <firing-alert-id>");
  process.exit(2);
}

function check(cond, msg) {
  if (!cond) {
    throw new Error("check failed: " + msg);
  }
}

function text(result) {
  return (result.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
}

async function connect(bearer) {
  const client = new Client({ name: "infrastructor-ts-alerts", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: "Bearer " + bearer } } }));
  return client;
}

const summary = {};

// A read token sees the alerts but cannot act on them.
const reader = await connect(readToken);
const readNames = (await reader.listTools()).tools.map((t) => t.name);
summary.read_alert_tools = readNames.filter((n) => n.includes("alert")).sort();
const listed = await reader.callTool({ name: "list_alerts", arguments: {} });
check(!listed.isError, "list_alerts: " + text(listed));
check(listed.structuredContent.alerts[0].id === alertID, "the firing alert is listed first: " + text(listed));
summary.read_list_first_state = listed.structuredContent.alerts[0].state;
const got = await reader.callTool({ name: "get_alert", arguments: { alert: alertID } });
check(!got.isError && got.structuredContent.id === alertID, "get_alert: " + text(got));
let refused = "";
try {
  const r = await reader.callTool({ name: "acknowledge_alert", arguments: { alert: alertID } });
  refused = r.isError ? text(r) : "";
  check(r.isError === true, "a read token acknowledged an alert: " + text(r));
} catch (err) {
  refused = String(err && err.message ? err.message : err);
}
summary.read_acknowledge_refused = refused !== "";
const res = await reader.readResource({ uri: "infra://alerts" });
const doc = JSON.parse(res.contents[0].text);
summary.resource_ids = doc.alerts.map((a) => a.id);
await reader.close();

// An operate token silences and lifts the silence.
const operator = await connect(operateToken);
const opNames = (await operator.listTools()).tools.map((t) => t.name);
summary.operate_alert_tools = opNames.filter((n) => n.includes("alert")).sort();
const silence = (await operator.listTools()).tools.find((t) => t.name === "silence_alert");
check(silence.annotations.readOnlyHint === false && silence.annotations.destructiveHint === false, "silence_alert annotations");
const silenced = await operator.callTool({ name: "silence_alert", arguments: { alert: alertID, duration: "90m" } });
check(!silenced.isError, "silence_alert: " + text(silenced));
summary.silenced_until = silenced.structuredContent.silenced_until;
const bad = await operator.callTool({ name: "silence_alert", arguments: { alert: alertID, duration: "forever" } });
check(bad.isError === true && /duration/.test(text(bad)), "a bad duration is a tool error naming it: " + text(bad));
const lifted = await operator.callTool({ name: "silence_alert", arguments: { alert: alertID, lift: true } });
check(!lifted.isError && lifted.structuredContent.silenced_until === null, "lift: " + text(lifted));
summary.lifted = true;
await operator.close();

console.log(JSON.stringify(summary));
