#!/usr/bin/env node
// Checks JSON bodies against Talon.One's JavaScript SDK (talon_one@5.0.1-rc).
//
// stdin:  [{"model": "IntegrationStateV2", "body": {...}, "extras": ["dryRun"]}, ...]
// stdout: [["/path: problem", ...], ...]   one list per item, same order
// exit:   0 when every item was checked (problems or not), 2 on bad input.
//
// For each item the SDK's own Model.constructFromObject(body) runs (it must not throw), then the
// body is walked against a schema read from the SDK's generated model sources, because those
// models have no validateJSON of their own:
//   - required fields: the parameters of the model's constructor (`function Effect(campaignId,
//     ...)`), as the constructor's initialize() stores them (`obj['campaignId'] = campaignId`);
//   - field types: the constructFromObject lines, `convertToType(data['x'], 'Number')` ('String',
//     'Date', 'Boolean', Object, [T], {'String': T}) and `_Model["default"].constructFromObject`;
//   - enums: the `Model['XEnum'] = {...}` objects, bound to a field by its `@member` JSDoc type;
//   - a key the model does not declare is dropped by constructFromObject: reported as lost,
//     unless it is a top-level key listed in the item's "extras".
// What the JS source cannot tell, and is filled in here from Talon.One's OpenAPI document:
//   - integers: the SDK types integer and float fields alike as 'Number'; see INTEGER_FIELDS;
//   - Effect.props is a bare Object; its model is `<EffectType>EffectProps` (addLoyaltyPoints ->
//     AddLoyaltyPointsEffectProps), which must exist in the SDK;
//   - the rejectionReason of rejectCoupon / rejectReferral effect props is a plain String in the
//     SDK; its values are those of CouponRejectionReason / ReferralRejectionReason.ReasonEnum.
'use strict';

const fs = require('fs');
const path = require('path');

const MODEL_DIR = path.join(path.dirname(require.resolve('talon_one')), 'model');

// Integer fields. The SDK's JS says only 'Number' (convertToType uses parseFloat); which Number
// fields are integers comes from the OpenAPI document the SDKs are generated from
// (`type: integer`; the document gives no int32/int64 format), as shipped in
// github.com/talon-one/talon_go api/openapi.yaml by the two releases around talon_one.js 5.0.1-rc
// (2023-06-07): v3.0.0 (commit bfaee0c, 2023-04-28) and commit d040002 (2023-10-16). Both
// documents agree on every Number field of this SDK, and each such field is in one of them. A name
// is listed when all its Number fields are integers; INTEGER_OVERRIDES settles the four names
// (accountId, amount, position, webhookId) that are integers in some models only; any other Number
// field is a float (`type: number`).
const INTEGER_FIELDS = new Set([
  'RoleID', 'StatusCode', 'UserID', 'acceptedCoupons', 'accountID', 'accountId', 'activeCampaigns',
  'activeCoupons', 'activeReferralCodes', 'activeRules', 'activeRulesetId',
  'addFreeItemEffectCount', 'additionalCostId', 'adds', 'allowedApplicationIds', 'apiLimit',
  'apiVolume', 'applicationCount', 'applicationID', 'applicationId', 'applicationIds',
  'applicationLimit', 'applications', 'applicationsIds', 'archived', 'attributeId', 'attributeid',
  'audienceId', 'awardedGiveawaysCount', 'bundleIndex', 'callApiEffectCount', 'campaignFreeItems',
  'campaignGroupID', 'campaignGroups', 'campaignID', 'campaignId', 'campaignIds', 'campaignLimit',
  'campaigns', 'campaignsActiveCount', 'campaignsCount', 'campaignsInactiveCount', 'cardID',
  'catalogId', 'catalogItemID', 'catalogid', 'chunkExecutionCount', 'chunkSize', 'closedSessions',
  'conditionIndex', 'connectedApplicationsIds', 'connectedAudiences', 'couponCreationCount',
  'couponFailedAttempts', 'couponID', 'couponId', 'couponRedemptionCount', 'couponRedemptions',
  'couponRolledbackRedemptions', 'couponUseAttempts', 'coupons', 'couponsCreated', 'createdAmount',
  'createdBy', 'createdCoupons', 'createdLoyaltyPointsEffectCount', 'currentBatch',
  'customAttributes', 'customEffectCount', 'customerId', 'defaultCampaignGroupId',
  'defaultEvaluationGroupId', 'deletes', 'disabled', 'discountEffectCount', 'draft', 'effectId',
  'effectIndex', 'endingSoon', 'evaluableCampaignIds', 'evaluationGroupId', 'eventID', 'eventId',
  'eventTypeId', 'expired', 'expiredCoupons', 'expiredReferralCodes', 'failCount', 'freeItems',
  'giveawayId', 'groupId', 'id', 'importId', 'integrationType', 'live', 'liveActiveCampaigns',
  'liveApplications', 'liveLoyaltyPrograms', 'loyaltyProgramId', 'loyaltyPrograms',
  'managementKeyId', 'members', 'membersCount', 'modifiedBy', 'numberOfCoupons',
  'outgoingIntegrationTemplateId', 'outgoingIntegrationTypeId', 'parentId', 'picklistID', 'poolId',
  'profileIDs', 'profileId', 'profileRedemptionCount', 'programID', 'programId', 'quantity',
  'redeemedLoyaltyPointsEffectCount', 'referenceId', 'referralCodes', 'referralCreationCount',
  'referralID', 'referralId', 'referralRedemptionCount', 'referralRedemptions', 'referralsCreated',
  'remainingQuantity', 'reservationLimit', 'reservecouponEffectCount', 'returnedQuantity', 'roles',
  'ruleIndex', 'rulesetID', 'rulesetId', 'running', 'sandboxApplications', 'sandboxLoyaltyPrograms',
  'scheduled', 'schemaVersion', 'sessionId', 'status', 'subscribedApplications',
  'subscribedApplicationsIds', 'subscribedCatalogsIds', 'templateId', 'totalAffectedItems',
  'totalBatches', 'totalCampaignFreeItems', 'totalCouponRedemptions',
  'totalCouponRolledbackRedemptions', 'totalCouponsCreated', 'totalDiscountedOrders', 'totalOrders',
  'totalOrdersNoCoupon', 'totalReferralRedemptions', 'totalReferralsCreated', 'totalResultSize',
  'triggeredByCoupon', 'triggeredForCatalogItem', 'typeId', 'usageCounter', 'usageLimit',
  'userCount', 'userID', 'userId', 'userIds', 'userLimit', 'users', 'usersPerCardLimit',
  'validApplicationIds', 'version', 'webhookId', 'webhooks',
]);

const INTEGER_OVERRIDES = {
  'CampaignEvaluationPosition.position': true,
  'ExpiringPointsNotificationTrigger.amount': true,
  'LedgerEntry.amount': true,
  'ModelImport.amount': true,
  'PriorityPosition.position': true,
  'ReturnedCartItem.position': true,
  'SamlConnectionMetadata.accountId': false,
  'TriggerWebhookEffectProps.webhookId': false,
};

// Plain String fields whose values Talon.One draws from an enum the SDK declares elsewhere.
const ENUM_OF = {
  'RejectCouponEffectProps.rejectionReason': 'CouponRejectionReason.ReasonEnum',
  'RejectReferralEffectProps.rejectionReason': 'ReferralRejectionReason.ReasonEnum',
};
// Values Talon.One documents for those fields beyond the SDK's enum (talon_one.js,
// docs/RejectCouponEffectProps.md and docs/RejectReferralEffectProps.md): a typed client reads
// the field as a plain string, so they parse.
const DOCUMENTED = {
  'RejectCouponEffectProps.rejectionReason': ['CouponLimitReached'],
  'RejectReferralEffectProps.rejectionReason': ['AdvocateNotFound', 'ReferralCustomerAlreadyReferred'],
};

const PRIMITIVES = new Set(['Number', 'String', 'Date', 'Boolean', 'Integer', 'Blob']);
const schemas = new Map(); // model name -> schema, read once per process

function modelExists(name) {
  return /^\w+$/.test(name) && fs.existsSync(path.join(MODEL_DIR, `${name}.js`));
}

// Parses the second argument of convertToType, whitespace removed: 'Number', Object, [T],
// {'String':T}, _Var["default"].
function parseType(text, vars, where) {
  let m;
  if ((m = /^'(\w+)'$/.exec(text)) && PRIMITIVES.has(m[1])) return { kind: m[1] };
  if (text === 'Object') return { kind: 'Object' };
  if ((m = /^\[(.+)\]$/.exec(text))) return { kind: 'array', of: parseType(m[1], vars, where) };
  if ((m = /^\{'String':(.+)\}$/.exec(text))) {
    return { kind: 'map', of: parseType(m[1], vars, where) };
  }
  if ((m = /^(_\w+)\["default"\]$/.exec(text)) && vars[m[1]]) {
    return { kind: 'model', name: vars[m[1]] };
  }
  throw new Error(`${where}: cannot read type ${text}`);
}

function loadSchema(name) {
  if (schemas.has(name)) return schemas.get(name);
  const src = fs.readFileSync(path.join(MODEL_DIR, `${name}.js`), 'utf8');
  const enums = {};
  for (const m of src.matchAll(/^(\w+)\['(\w+Enum)'\] = \{([\s\S]*?)^\};/gm)) {
    enums[`${m[1]}.${m[2]}`] = [...m[3].matchAll(/^\s*"[^"]*": "([^"]*)",?$/gm)].map((v) => v[1]);
  }
  const consts = [...src.matchAll(/_defineProperty\(this, "[^"]*", "([^"]*)"\)/g)];
  let schema;
  if (consts.length && /function constructFromObject\(object\)/.test(src)) {
    // An enum class, e.g. FrontendState: constructFromObject returns the value itself.
    schema = { kind: 'enum', name, values: consts.map((m) => m[1]) };
  } else {
    const vars = {};
    const imports = /var (_\w+) = _interopRequireDefault\(require\("\.\/(\w+)"\)\);/g;
    for (const m of src.matchAll(imports)) vars[m[1]] = m[2];
    const init = new RegExp(`function initialize\\(obj(?:, [\\w$]+)*\\) \\{([^}]*)\\}`).exec(src);
    if (!init) throw new Error(`${name}: no initialize()`);
    const required = [...init[1].matchAll(/obj\['([^']+)'\] = [\w$]+;/g)].map((m) => m[1]);
    const members = Object.create(null);
    for (const m of src.matchAll(/@member \{([^}]*)\} (\S+)/g)) members[m[2]] = m[1];
    const fields = Object.create(null); // so that a key such as "constructor" is no field
    const found = src.match(/data\.hasOwnProperty\('/g) || [];
    const fieldRe =
      /if \(data\.hasOwnProperty\('([^']+)'\)\) \{\s*obj\['([^']+)'\] = ([\s\S]*?);\s*\}/g;
    for (const [, key, key2, expr] of src.matchAll(fieldRe)) {
      const where = `${name}.${key}`;
      const e = expr.replace(/\s+/g, '');
      let m;
      let type;
      if (key !== key2) throw new Error(`${where}: stored as ${key2}`);
      if ((m = /^_ApiClient\["default"\]\.convertToType\(data\['[^']+'\],(.+)\)$/.exec(e))) {
        type = parseType(m[1], vars, where);
      } else if ((m = /^(_\w+)\["default"\]\.constructFromObject\(data\['[^']+'\]\)$/.exec(e))) {
        type = parseType(`${m[1]}["default"]`, vars, where);
      } else {
        throw new Error(`${where}: cannot read ${expr}`);
      }
      const member = /module:model\/(\w+\.\w+Enum)/.exec(members[key] || '');
      const enumRef = ENUM_OF[where] || (member && member[1]);
      if (enumRef) {
        const [owner] = enumRef.split('.');
        const values = owner === name ? enums[enumRef] : loadSchema(owner).enums[enumRef];
        if (!values) throw new Error(`${where}: no enum ${enumRef}`);
        type = withEnum(type, enumRef, [...values, ...(DOCUMENTED[where] || [])]);
      }
      fields[key] = {
        type,
        integer: isNumber(type) && (INTEGER_OVERRIDES[where] ?? INTEGER_FIELDS.has(key)),
      };
    }
    if (found.length !== Object.keys(fields).length) throw new Error(`${name}: unread fields`);
    for (const r of required) if (!fields[r]) throw new Error(`${name}: required ${r} not a field`);
    schema = { kind: 'model', name, required, fields, enums };
  }
  schemas.set(name, schema);
  return schema;
}

function isNumber(type) {
  return type.kind === 'Number' || (type.of !== undefined && isNumber(type.of));
}

function withEnum(type, ref, values) {
  if (type.kind === 'array') return { ...type, of: withEnum(type.of, ref, values) };
  if (type.kind !== 'String') throw new Error(`enum ${ref} on a ${type.kind}`);
  return { kind: 'String', enumRef: ref, values };
}

function pointer(base, key) {
  return `${base}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// RFC 3339 date-time, which is what OpenAPI's `format: date-time` means, and Date.parse must agree.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function checkValue(value, type, integer, at, out) {
  const bad = (expected) => out.push(`${at || '/'}: expected ${expected}, got ${describe(value)}`);
  switch (type.kind) {
    case 'Number':
    case 'Integer':
      integer = integer || type.kind === 'Integer';
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        return bad(typeName({ type, integer }));
      }
      if (integer && !Number.isInteger(value)) return bad('integer');
      return;
    case 'String':
      if (typeof value !== 'string') return bad('string');
      if (type.values) checkEnum(value, type.values, type.enumRef, at, out);
      return;
    case 'Boolean':
      if (typeof value !== 'boolean') bad('boolean');
      return;
    case 'Date':
      if (typeof value !== 'string' || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
        bad('date-time string');
      }
      return;
    case 'Blob':
      return;
    case 'Object':
      if (!isPlainObject(value)) bad('object');
      return;
    case 'array':
      if (!Array.isArray(value)) return bad('array');
      value.forEach((item, i) => checkItem(item, type.of, integer, pointer(at, i), out));
      return;
    case 'map':
      if (!isPlainObject(value)) return bad('object');
      for (const [k, v] of Object.entries(value)) {
        checkItem(v, type.of, integer, pointer(at, k), out);
      }
      return;
    case 'model':
      checkModel(value, type.name, at, out, []);
      return;
    default:
      throw new Error(`unknown type ${type.kind}`);
  }
}

function checkEnum(value, values, ref, at, out) {
  if (!values.includes(value)) {
    const listing = values.join(', ');
    out.push(`${at || '/'}: ${JSON.stringify(value)} is not one of [${listing}] (${ref})`);
  }
}

function checkItem(value, type, integer, at, out) {
  if (value === null) out.push(`${at}: expected ${typeName({ type, integer })}, got null`);
  else checkValue(value, type, integer, at, out);
}

function typeName({ type, integer }) {
  if (type.kind === 'model') return type.name;
  if (type.kind === 'array') return `array of ${typeName({ type: type.of, integer })}`;
  if (type.kind === 'map') return `map of ${typeName({ type: type.of, integer })}`;
  if (type.kind === 'Number') return integer ? 'integer' : 'number';
  if (type.kind === 'Date') return 'date-time string';
  return type.kind.toLowerCase();
}

function checkModel(value, name, at, out, extras) {
  const schema = loadSchema(name);
  if (schema.kind === 'enum') {
    checkEnum(value, schema.values, name, at, out);
    return;
  }
  if (!isPlainObject(value)) {
    out.push(`${at || '/'}: expected ${name} object, got ${describe(value)}`);
    return;
  }
  for (const key of schema.required) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) {
      out.push(`${at || '/'}: missing required field ${key}`);
    }
  }
  for (const [key, v] of Object.entries(value)) {
    const here = pointer(at, key);
    const field = schema.fields[key];
    if (!field) {
      if (!extras.includes(key)) out.push(`${here}: field not in model ${name}`);
    } else if (v === null) {
      if (schema.required.includes(key)) {
        out.push(`${here}: required field is null (${typeName(field)})`);
      }
    } else {
      checkValue(v, field.type, field.integer, here, out);
    }
  }
  if (name === 'Effect' && typeof value.effectType === 'string' && isPlainObject(value.props)) {
    checkEffectProps(value, at, out);
  }
}

function checkEffectProps(effect, at, out) {
  const type = effect.effectType;
  const props = `${type.charAt(0).toUpperCase()}${type.slice(1)}EffectProps`;
  if (!modelExists(props)) {
    const at2 = pointer(at, 'effectType');
    out.push(`${at2}: ${JSON.stringify(type)} has no ${props} model in the SDK`);
    return;
  }
  construct(props, effect.props, pointer(at, 'props'), out);
  checkModel(effect.props, props, pointer(at, 'props'), out, []);
}

function modelClass(name) {
  // The very class the package index exports as require('talon_one')[name] (a test checks it):
  // loading only the models a body needs, not the index's 400, saves some 0.3 s per run.
  return require(path.join(MODEL_DIR, `${name}.js`))['default'];
}

function construct(name, body, at, out) {
  try {
    modelClass(name).constructFromObject(body);
  } catch (err) {
    out.push(`${at || '/'}: the SDK's ${name}.constructFromObject threw ${err}`);
  }
}

function checkBody({ model, body, extras = [] }) {
  const out = [];
  construct(model, body, '', out);
  checkModel(body, model, '', out, extras);
  return out;
}

function badInput(message) {
  process.stderr.write(`conformance.js: ${message}\n`);
  process.exit(2);
}

function main() {
  let items;
  try {
    items = JSON.parse(fs.readFileSync(0, 'utf8'));
  } catch (err) {
    badInput(`stdin is not JSON: ${err.message}`);
  }
  if (!Array.isArray(items)) badInput('stdin must be a JSON array of {model, body, extras?}');
  items.forEach((item, i) => {
    if (!isPlainObject(item) || typeof item.model !== 'string' || !('body' in item)) {
      badInput(`item ${i}: expected {"model": string, "body": ...}`);
    }
    if (!modelExists(item.model)) {
      badInput(`item ${i}: no model ${JSON.stringify(item.model)} in the SDK`);
    }
    const extras = item.extras === undefined ? [] : item.extras;
    if (!Array.isArray(extras) || extras.some((e) => typeof e !== 'string')) {
      badInput(`item ${i}: "extras" must be a list of strings`);
    }
  });
  process.stdout.write(`${JSON.stringify(items.map(checkBody))}\n`);
}

module.exports = { loadSchema, modelClass, MODEL_DIR };

if (require.main === module) main();
