// A small JSON Schema (2020-12) checker for the keywords the API's published schemas use
// (GET /api/v1/schemas/workflow.json): $ref to local $defs, type, const, enum, anyOf,
// oneOf (with its discriminator), allOf, properties, required, additionalProperties, items,
// min/maxItems, min/maxLength, pattern, minimum, maximum and their exclusive forms.
// It answers as the editor needs: a list of `{path, message}`, the path as `a.b[2].c`.

const TYPE_CHECKS = {
  string: (v) => typeof v === 'string',
  integer: (v) => Number.isInteger(v),
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  boolean: (v) => typeof v === 'boolean',
  null: (v) => v === null,
  array: (v) => Array.isArray(v),
  object: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
};

const join = (path, key) => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key);
const show = (value) => JSON.stringify(value);

function resolve(root, ref) {
  if (!ref.startsWith('#/')) throw new Error(`only local references are supported, not ${ref}`);
  return ref.slice(2).split('/').reduce((node, part) => node && node[part.replace(/~1/g, '/').replace(/~0/g, '~')], root);
}

function checkType(schema, value, path, problems) {
  const wanted = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (wanted.some((t) => TYPE_CHECKS[t] && TYPE_CHECKS[t](value))) return true;
  problems.push({ path, kind: 'type', message: `must be ${wanted.join(' or ')}, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}` });
  return false;
}

function checkOneOf(root, schema, value, path, problems) {
  const discriminator = schema.discriminator;
  if (discriminator && TYPE_CHECKS.object(value)) {
    const tag = value[discriminator.propertyName];
    const ref = discriminator.mapping && discriminator.mapping[tag];
    if (!ref) {
      const known = Object.keys(discriminator.mapping || {}).join(', ');
      problems.push({ path: join(path, discriminator.propertyName), message: `unknown ${discriminator.propertyName} ${show(tag)} (known: ${known})` });
      return;
    }
    walk(root, { $ref: ref }, value, path, problems);
    return;
  }
  const passing = schema.oneOf.filter((option) => check(root, option, value, path).length === 0).length;
  if (passing !== 1) problems.push({ path, message: passing ? 'matches more than one allowed form' : 'matches none of the allowed forms' });
}

/** An option of an anyOf in words: its description's first clause, else its type. */
function describe(root, option) {
  const resolved = option.$ref ? resolve(root, option.$ref) : option;
  if (resolved.description) return resolved.description.split(',')[0].replace(/^A /, 'a ').replace(/\.$/, '');
  return [resolved.type].flat().filter(Boolean).join(' or ') || 'something else';
}

function checkAnyOf(root, schema, value, path, problems) {
  const attempts = schema.anyOf.map((option) => check(root, option, value, path));
  if (attempts.some((found) => found.length === 0)) return;
  // An option the value's type fits says most (unless all it says is a pattern, which reads
  // worse than the options' descriptions), then one that failed only deeper inside.
  const typeFits = attempts.find((found) => !found.some((p) => p.path === path && p.kind));
  if (typeFits) { problems.push(...typeFits); return; }
  const deeper = attempts.find((found) => found.every((p) => p.path !== path));
  if (deeper) { problems.push(...deeper); return; }
  const options = [...new Set(schema.anyOf.map((option) => describe(root, option)))];
  problems.push({ path, message: `must be ${options.join(' or ')}` });
}

function checkObject(root, schema, value, path, problems) {
  for (const name of schema.required || []) {
    if (!(name in value)) problems.push({ path: join(path, name), message: 'is required' });
  }
  const properties = schema.properties || {};
  for (const [name, child] of Object.entries(value)) {
    if (name in properties) walk(root, properties[name], child, join(path, name), problems);
    else if (schema.additionalProperties === false) problems.push({ path: join(path, name), message: 'is not an allowed field' });
    else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
      walk(root, schema.additionalProperties, child, join(path, name), problems);
    }
  }
}

/** A pattern JavaScript cannot compile is left to the server to check. */
function matches(pattern, value) {
  try { return new RegExp(pattern, 'u').test(value); } catch { return true; }
}

function checkBounds(schema, value, path, problems) {
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) problems.push({ path, message: schema.minLength === 1 ? 'must not be empty' : `must be at least ${schema.minLength} characters` });
    if (schema.maxLength !== undefined && value.length > schema.maxLength) problems.push({ path, message: `must be at most ${schema.maxLength} characters` });
    if (schema.pattern !== undefined && !matches(schema.pattern, value)) problems.push({ path, kind: 'pattern', message: `must match ${schema.pattern}` });
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) problems.push({ path, message: `must be at least ${schema.minimum}` });
    if (schema.maximum !== undefined && value > schema.maximum) problems.push({ path, message: `must be at most ${schema.maximum}` });
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) problems.push({ path, message: `must be more than ${schema.exclusiveMinimum}` });
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) problems.push({ path, message: `must be less than ${schema.exclusiveMaximum}` });
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) problems.push({ path, message: `must have at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}` });
    if (schema.maxItems !== undefined && value.length > schema.maxItems) problems.push({ path, message: `must have at most ${schema.maxItems} items` });
  }
}

function walk(root, schema, value, path, problems) {
  if (schema === true || schema === undefined) return;
  if (schema === false) { problems.push({ path, message: 'is not allowed' }); return; }
  if (schema.$ref) walk(root, resolve(root, schema.$ref), value, path, problems);
  if (schema.type !== undefined && !checkType(schema, value, path, problems)) return;
  if ('const' in schema && show(schema.const) !== show(value)) problems.push({ path, message: `must be ${show(schema.const)}` });
  if (schema.enum && !schema.enum.some((option) => show(option) === show(value))) {
    problems.push({ path, message: `must be one of ${schema.enum.map(show).join(', ')}` });
  }
  if (schema.allOf) for (const part of schema.allOf) walk(root, part, value, path, problems);
  if (schema.anyOf) checkAnyOf(root, schema, value, path, problems);
  if (schema.oneOf) checkOneOf(root, schema, value, path, problems);
  if (TYPE_CHECKS.object(value) && (schema.properties || schema.required || schema.additionalProperties !== undefined)) {
    checkObject(root, schema, value, path, problems);
  }
  if (Array.isArray(value) && schema.items) value.forEach((item, i) => walk(root, schema.items, item, join(path, i), problems));
  checkBounds(schema, value, path, problems);
}

function check(root, schema, value, path) {
  const problems = [];
  walk(root, schema, value, path, problems);
  return problems;
}

/** Every way `value` breaks `schema` (a whole document with its `$defs`); [] when it fits. */
export function validate(schema, value) {
  return check(schema, schema, value, '').map(({ path, message }) => ({ path, message }));
}
