#!/usr/bin/env node
// Drives Talon.One's JavaScript SDK (talon_one@5.0.1-rc) against a running `refcamp serve`, one
// step after another, and reports what every call did. tests/test_serve_sdk.py writes the stories.
//
//   node story.js PORT KEY < steps.json
//
// stdin: a JSON list of steps, run in order; each has a unique "label":
//   {"label": "advocate", "call": "updateCustomerProfileV2",
//    "args": ["advocate", {"attributes": {}}, {"runRuleEngine": true}],
//    "key": "other" | null}              // optional: another API key, or null for none
//   {"label": "off", "run": ["python", "-m", "refcamp", "campaign", "deactivate", "x"]}
// A call runs the IntegrationApi method's WithHttpInfo variant exactly as an application would:
// every argument the SDK documents as a model (`@param {module:model/X} body`) is first built with
// the SDK's own X.constructFromObject, and an option it documents as a Date is made a Date. A "run"
// step runs a command (e.g. the refcamp CLI on the same state file) and waits for it.
// Anywhere in args or run, {"$ref": "LABEL", "path": "/json/pointer"} stands for that value of an
// earlier step's result: the raw response body of a call, or the parsed stdout of a run.
//
// stdout: a JSON list, one report per step, same order:
//   call: {label, call, sent (the arguments as sent, as JSON), sentModels (the model each
//          argument was built as, or null), status, body (the raw response body, parsed; null
//          when empty), returns (the model the SDK method declares, or null), model (the class
//          name of what the SDK returned, or null), isInstance (whether it is an instance of
//          the declared model), data (what the SDK returned, as JSON), error (null, or
//          {status, body} when the SDK rejected a non-2xx answer), thrown (null, or the text
//          of any other failure: no connection, a body the SDK cannot read)}
//   run:  {label, run, code, stdout (parsed JSON when it is JSON, else text), stderr}
// exit: 0 when every step ran (whatever it answered), 2 on bad input.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const TalonOne = require('talon_one');

const API_SOURCE = path.join(
  path.dirname(require.resolve('talon_one')),
  'api',
  'IntegrationApi.js',
);

// What each IntegrationApi method takes and returns, read from the SDK's own source: the parameter
// names, the JSDoc type of each (`{module:model/X}`, `{String}`, and `{Date=} [opts.endDate]`
// for options) and the `returnType`.
function signatures() {
  const src = fs.readFileSync(API_SOURCE, 'utf8');
  const vars = {};
  const imports = /var (_\w+) = _interopRequireDefault\(require\("\.\.\/model\/(\w+)"\)\);/g;
  for (const m of src.matchAll(imports)) vars[m[1]] = m[2];
  const found = {};
  const method = new RegExp(
    '/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*(?:\\}, |_createClass\\(IntegrationApi, \\[)\\{\\s*' +
      'key: "(\\w+)WithHttpInfo",\\s*value: function \\w+\\(([^)]*)\\) \\{([\\s\\S]*?)\\n {4}\\}',
    'g',
  );
  for (const [, doc, name, params, body] of src.matchAll(method)) {
    const types = {};
    for (const m of doc.matchAll(/@param \{([^}]+)\} \[?([\w.]+)\]?/g)) types[m[2]] = m[1];
    const ret = /returnType = (?:null|(_\w+)\["default"\]);/.exec(body);
    if (!ret) throw new Error(`IntegrationApi.${name}: no returnType`);
    found[name] = {
      params: params.split(',').map((p) => p.trim()).filter(Boolean),
      types,
      returns: ret[1] ? vars[ret[1]] : null,
    };
  }
  const declared = (src.match(/key: "\w+WithHttpInfo",/g) || []).length;
  if (Object.keys(found).length !== declared) {
    throw new Error(`read ${Object.keys(found).length} of ${declared} IntegrationApi methods`);
  }
  return found;
}

function resolve(value, results) {
  if (Array.isArray(value)) return value.map((v) => resolve(v, results));
  if (value === null || typeof value !== 'object') return value;
  if (typeof value.$ref === 'string') {
    if (!(value.$ref in results)) throw new Error(`$ref to unknown or later step ${value.$ref}`);
    let at = results[value.$ref];
    const parts = (value.path || '').split('/').slice(1);
    for (const raw of parts) {
      const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (at === null || typeof at !== 'object' || !(part in at)) {
        throw new Error(`$ref ${value.$ref}${value.path}: no ${JSON.stringify(part)}`);
      }
      at = at[part];
    }
    return at;
  }
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = resolve(v, results);
  return out;
}

// The model each argument is documented as (e.g. 'IntegrationRequest'), or null.
function argModels(sig) {
  return sig.params.map((name) => {
    const model = /^module:model\/(\w+)$/.exec(sig.types[name] || '');
    return model ? model[1] : null;
  });
}

// The arguments as an application passes them: models built by the SDK, Date options as Dates.
function prepare(sig, args) {
  const models = argModels(sig);
  return sig.params.map((name, i) => {
    const arg = args[i];
    if (arg === undefined || arg === null) return arg;
    if (name === 'opts') {
      const opts = { ...arg };
      for (const [key, v] of Object.entries(opts)) {
        if (/^Date/.test(sig.types[`opts.${key}`] || '') && typeof v === 'string') {
          opts[key] = new Date(v);
        }
      }
      return opts;
    }
    return models[i] ? TalonOne[models[i]].constructFromObject(arg) : arg;
  });
}

function parseText(text) {
  if (text === undefined || text === null || text === '') return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    return text;
  }
}

function asJson(value) {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}

async function call(api, client, sig, step, key, results) {
  const report = {
    label: step.label,
    call: step.call,
    sent: null,
    sentModels: argModels(sig),
    status: null,
    body: null,
    returns: sig.returns,
    model: null,
    isInstance: false,
    data: null,
    error: null,
    thrown: null,
  };
  const auth = client.authentications.api_key_v1;
  auth.apiKey = step.key === undefined ? key : step.key;
  try {
    const args = prepare(sig, resolve(step.args || [], results));
    report.sent = asJson(args);
    const { data, response } = await api[`${step.call}WithHttpInfo`](...args);
    report.status = response.status;
    report.body = parseText(response.text);
    report.data = asJson(data);
    report.model = data && data.constructor ? data.constructor.name : null;
    report.isInstance = sig.returns !== null && data instanceof TalonOne[sig.returns];
  } catch (err) {
    if (err && err.response) {
      report.status = err.status;
      report.body = parseText(err.response.text);
      report.error = { status: err.status, body: report.body };
    } else {
      report.thrown = String(err && err.stack ? err.stack : err);
    }
  } finally {
    auth.apiKey = key;
  }
  results[step.label] = report.body;
  return report;
}

function run(step, results) {
  const argv = resolve(step.run, results);
  const done = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 120000 });
  const report = {
    label: step.label,
    run: argv,
    code: done.status,
    stdout: parseText(done.stdout),
    stderr: done.stderr || String(done.error || ''),
  };
  results[step.label] = report.stdout;
  return report;
}

function badInput(message) {
  process.stderr.write(`story.js: ${message}\n`);
  process.exit(2);
}

async function main() {
  const [port, key] = process.argv.slice(2);
  if (!/^\d+$/.test(port || '') || !key) badInput('usage: node story.js PORT KEY < steps.json');
  let steps;
  try {
    steps = JSON.parse(fs.readFileSync(0, 'utf8'));
  } catch (err) {
    badInput(`stdin is not JSON: ${err.message}`);
  }
  if (!Array.isArray(steps)) badInput('stdin must be a JSON list of steps');
  const sigs = signatures();
  const labels = new Set();
  steps.forEach((step, i) => {
    if (!step || typeof step.label !== 'string' || labels.has(step.label)) {
      badInput(`step ${i}: needs a unique "label"`);
    }
    labels.add(step.label);
    if (step.call !== undefined && !sigs[step.call]) {
      badInput(`step ${step.label}: IntegrationApi has no method ${step.call}`);
    }
    if ((step.call === undefined) === (step.run === undefined)) {
      badInput(`step ${step.label}: needs one of "call" and "run"`);
    }
  });

  const client = TalonOne.ApiClient.instance;
  client.basePath = `http://127.0.0.1:${port}`;
  client.authentications.api_key_v1.apiKeyPrefix = 'ApiKey-v1';
  const api = new TalonOne.IntegrationApi();
  const results = {};
  const reports = [];
  for (const step of steps) {
    if (step.call !== undefined) {
      reports.push(await call(api, client, sigs[step.call], step, key, results));
    } else {
      try {
        reports.push(run(step, results));
      } catch (err) {
        const failed = { label: step.label, run: step.run, code: null, stdout: null };
        reports.push({ ...failed, stderr: String(err) });
      }
    }
  }
  process.stdout.write(`${JSON.stringify(reports)}\n`);
}

main().catch((err) => {
  process.stderr.write(`story.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
