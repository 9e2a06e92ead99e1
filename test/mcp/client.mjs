// End-to-end check of Infrastructor's MCP endpoint with the official TypeScript SDK.
//
//   node client.mjs <mcp-url> <operate-token> <device> <container>
//
// The Go test in this directory starts the whole system (PostgreSQL, Temporal, worker, API, a device whose sshd
// drives a real Docker engine) and runs this script against it. Every check that fails exits 1 with a message; on
// success the last line of stdout is a JSON summary the Go test asserts on.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, device, container] = process.argv.slice(2);
if (!url || !token || !device || !container) {
  console.error("usage: node client.mjs <mcp-url> <operate-token> <device> <container>");
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
  const headers = bearer ? { Authorization: "Bearer " + bearer } : {};
  const client = new Client({ name: "infrastructor-ts-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

const summary = {};

// Refused without a token, and with a wrong one.
for (const bad of [undefined, "infra_not-a-real-token"]) {
  let refused = null;
  try {
    const c = await connect(bad);
    await c.close();
  } catch (err) {
    refused = String(err && err.message ? err.message : err);
  }
  check(refused !== null, "connecting with token " + bad + " must fail");
  check(/401|unauthori[sz]ed|invalid, expired or revoked|missing bearer token/i.test(refused), "refusal names 401: " + refused);
}
summary.refused_without_token = true;

const client = await connect(token);
const info = client.getServerVersion();
check(info && info.name === "infrastructor", "server name: " + JSON.stringify(info));

const { tools } = await client.listTools();
const names = tools.map((t) => t.name).sort();
summary.tools = names;
for (const want of ["list_devices", "get_device", "get_metrics", "fleet_health", "container_action", "get_operation"]) {
  check(names.includes(want), "tools/list has " + want);
}
const action = tools.find((t) => t.name === "container_action");
check(action.annotations.destructiveHint === true && action.annotations.readOnlyHint === false, "container_action annotations");
check(tools.find((t) => t.name === "list_devices").annotations.readOnlyHint === true, "list_devices is read-only");

const devices = await client.callTool({ name: "list_devices", arguments: {} });
check(!devices.isError, "list_devices: " + text(devices));
check(text(devices).includes(device), "list_devices names " + device);
check(devices.structuredContent.devices.some((d) => d.name === device && d.status === "online"), "device online in structured content");

const missing = await client.callTool({ name: "get_device", arguments: { device: "no-such-device" } });
check(missing.isError === true && /list_devices/.test(text(missing)), "unknown device is a tool error naming list_devices: " + text(missing));

const res = await client.readResource({ uri: "infra://schema/metrics" });
const schema = JSON.parse(res.contents[0].text);
check(schema.metrics.some((m) => m.name === "cpu" && m.values.some((v) => v.unit === "percent")), "metric schema lists cpu in percent");
const devRes = await client.readResource({ uri: "infra://devices/" + device });
check(JSON.parse(devRes.contents[0].text).device.name === device, "device resource by name");

const prompt = await client.getPrompt({ name: "troubleshoot_container", arguments: { device, container } });
check(prompt.messages.length > 0 && prompt.messages[0].content.text.includes("get_container_logs"), "troubleshoot_container prompt");

// A restart with progress: notifications arrive before the result.
const events = [];
const restarted = await client.callTool(
  { name: "container_action", arguments: { device, container, action: "restart", timeout: 1, wait_seconds: 60 } },
  undefined,
  { onprogress: (p) => events.push({ kind: "progress", message: p.message, at: Date.now() }), timeout: 90000 },
);
events.push({ kind: "result", at: Date.now() });
check(!restarted.isError, "restart succeeded: " + text(restarted));
check(/succeeded/.test(text(restarted)), "restart result says succeeded: " + text(restarted));
const progress = events.filter((e) => e.kind === "progress");
check(progress.length >= 2, "at least two progress notifications, got " + progress.length);
check(events[events.length - 1].kind === "result", "the result comes after every progress notification");
summary.progress = progress.map((p) => p.message);
summary.restart = restarted.structuredContent.state;
summary.first_progress_before_result_ms = events[events.length - 1].at - progress[0].at;

// A conflict: a slow stop is still running when a restart of the same container asks; the second is a tool error.
const slow = await client.callTool({
  name: "container_action",
  arguments: { device, container, action: "stop", timeout: 5, wait_seconds: 0 },
});
check(!slow.isError, "slow stop started: " + text(slow));
const opID = slow.structuredContent.id;
check(typeof opID === "string" && opID.length === 36, "stop returns its operation id");
const conflict = await client.callTool({ name: "container_action", arguments: { device, container, action: "restart" } });
check(conflict.isError === true && /already running/.test(text(conflict)), "conflict is a tool error: " + text(conflict));
summary.conflict = text(conflict);

let final = null;
for (let i = 0; i < 60 && !final; i++) {
  const op = await client.callTool({ name: "get_operation", arguments: { id: opID } });
  if (["succeeded", "failed", "cancelled"].includes(op.structuredContent.state)) {
    final = op.structuredContent.state;
  } else {
    await new Promise((r) => setTimeout(r, 500));
  }
}
check(final === "succeeded", "the stop operation succeeded, got " + final);
summary.stop = final;

await client.close();
console.log(JSON.stringify(summary));
