// Redocly CLI plugin: this project's contract rules for openapi.yaml.
//
// The built-in rules (redocly.yaml) check that the document is valid and that operations are
// identified and documented. These rules check what a client author relies on:
//
//   error-responses-use-error-schema  every 4XX/5XX response is JSON with the shared Error schema
//   expected-statuses                 the statuses an operation can produce are all declared
//   described-fields                  every property of every schema has a description
//   request-examples                  every request body has an example
//   response-examples                 every response with a body has an example
//   bounded-values                    strings have maxLength (or enum/format), numbers a range,
//                                     arrays maxItems: in parameters and in schema properties
//   formats                           emails state the addresses accepted with a `pattern` (not
//                                     `format: email`: RFC 5322 is not the server's rule),
//                                     timestamps are `format: date-time`
//   retry-after-header                429 and 503 responses declare the Retry-After header
//   response-description              no empty response descriptions
//
// An example is found on the media type (`example`/`examples`) or on the schema (`example`),
// following $ref; for `oneOf`/`anyOf`, on every member; for an event stream (`format: event-stream`), on the schema of its events.

const ERROR_SCHEMA_REF = '#/components/schemas/Error';
const BOUNDED_STRING_FORMATS = new Set(['date-time', 'date', 'time', 'uuid', 'byte']);
const FIXED_WIDTH_INTEGER_FORMATS = new Set(['int32', 'int64']);

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Resolves a possible $ref, returning the node itself when it is none. */
function deref(node, ctx) {
  if (isObject(node) && typeof node.$ref === 'string') {
    const resolved = ctx.resolve(node);
    return resolved && resolved.node ? resolved.node : node;
  }
  return node;
}

/** The effective schema of a property: its own keywords over those of a single $ref or allOf[0]. */
function effectiveSchema(raw, ctx) {
  if (!isObject(raw)) return {};
  let schema = { ...deref(raw, ctx) };
  if (Array.isArray(raw.allOf)) {
    for (const part of raw.allOf) schema = { ...deref(part, ctx), ...schema };
  }
  return schema;
}

function hasExample(mediaType, ctx) {
  if (!isObject(mediaType)) return false;
  if (mediaType.example !== undefined) return true;
  if (isObject(mediaType.examples) && Object.keys(mediaType.examples).length > 0) return true;
  const schema = effectiveSchema(mediaType.schema, ctx);
  if (schema.example !== undefined) return true;
  // One of several bodies (`oneOf`/`anyOf`): an example of each is an example of the answer.
  const members = schema.oneOf || schema.anyOf;
  if (Array.isArray(members) && members.length > 0) {
    return members.every((member) => effectiveSchema(member, ctx).example !== undefined);
  }
  // A `text/event-stream` is declared as an array of its events (`format: event-stream`): an
  // example of one event is the example of the stream.
  return schema.format === 'event-stream' && effectiveSchema(schema.items, ctx).example !== undefined;
}

function operations(pathItem) {
  return ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']
    .filter((m) => isObject(pathItem[m]))
    .map((m) => [m, pathItem[m]]);
}

function ErrorResponsesUseErrorSchema() {
  return {
    Operation: {
      enter(op, ctx) {
        for (const [status, rawResponse] of Object.entries(op.responses || {})) {
          if (!/^[45]/.test(status)) continue;
          const response = deref(rawResponse, ctx);
          const where = ctx.location.child(['responses', status]);
          const content = response.content;
          if (!isObject(content) || Object.keys(content).length === 0) {
            ctx.report({ message: `Error response ${status} has no body: it must be JSON with the Error schema.`, location: where });
            continue;
          }
          for (const [type, mt] of Object.entries(content)) {
            if (!/^application\/json\b/.test(type)) {
              ctx.report({ message: `Error response ${status} has media type '${type}': errors are application/json.`, location: where.child(['content', type]) });
            }
            if (!isObject(mt.schema) || mt.schema.$ref !== ERROR_SCHEMA_REF) {
              ctx.report({ message: `Error response ${status} (${type}) must use $ref '${ERROR_SCHEMA_REF}'.`, location: where.child(['content', type]) });
            }
          }
        }
      },
    },
  };
}

// Statuses every operation of a kind can produce, so they must be declared.
function ExpectedStatuses() {
  return {
    PathItem: {
      enter(pathItem, ctx) {
        const path = ctx.key;
        for (const [method, op] of operations(pathItem)) {
          const declared = new Set(Object.keys(op.responses || {}));
          const need = [];
          const params = [...(pathItem.parameters || []), ...(op.parameters || [])].map((p) => deref(p, ctx));
          const secured = Array.isArray(op.security) && op.security.some((req) => isObject(req) && Object.keys(req).length > 0);
          const optionalAuth = Array.isArray(op.security) && op.security.some((req) => isObject(req) && Object.keys(req).length === 0);
          if (secured && !optionalAuth) need.push(['401', 'it requires a session']);
          if (op.requestBody) {
            need.push(['400', 'it takes a body (malformed JSON)']);
            need.push(['413', 'it takes a body (body size limit)']);
            need.push(['415', 'it takes a body (wrong Content-Type)']);
          }
          if (params.some((p) => p && p.in === 'path' && isObject(p.schema) && deref(p.schema, ctx).type === 'integer')) {
            need.push(['404', 'it addresses a resource by its id']);
          }
          if (params.some((p) => p && p.in === 'header' && /^if-match$/i.test(p.name))) need.push(['412', 'it takes If-Match']);
          if (params.some((p) => p && (p.in === 'query' || p.in === 'path') && p.schema && !(deref(p.schema, ctx).type === 'string' && !deref(p.schema, ctx).maxLength && !deref(p.schema, ctx).enum))) {
            // Invalid parameters are 422 on the tasks API and 400 (VALIDATION_ERROR) on the
            // Better Auth endpoints, as Better Auth answers.
            need.push([path.startsWith('/api/auth/') ? '400' : '422', 'it has constrained parameters']);
          }
          if (path.startsWith('/api/auth/')) need.push(['429', 'every /api/auth route is rate-limited']);
          for (const [status, why] of need) {
            if (!declared.has(status) && !declared.has(`${status[0]}XX`)) {
              ctx.report({
                message: `${method.toUpperCase()} ${path} does not declare ${status}, but ${why}.`,
                location: ctx.location.child([method, 'responses']).key(),
              });
            }
          }
        }
      },
    },
  };
}

function DescribedFields() {
  return {
    Schema: {
      enter(schema, ctx) {
        if (!isObject(schema.properties)) return;
        for (const [name, raw] of Object.entries(schema.properties)) {
          const own = isObject(raw) && typeof raw.description === 'string' && raw.description.trim() !== '';
          const viaRef = effectiveSchema(raw, ctx).description;
          if (!own && !(typeof viaRef === 'string' && viaRef.trim() !== '')) {
            ctx.report({ message: `Property '${name}' has no description.`, location: ctx.location.child(['properties', name]).key() });
          }
        }
      },
    },
  };
}

function RequestExamples() {
  return {
    Operation: {
      enter(op, ctx) {
        if (!op.requestBody) return;
        const body = deref(op.requestBody, ctx);
        for (const [type, mt] of Object.entries(body.content || {})) {
          if (!hasExample(mt, ctx)) {
            ctx.report({
              message: `Request body (${type}) has no example (media type 'example'/'examples' or schema 'example').`,
              location: ctx.location.child(['requestBody', 'content', type]),
            });
          }
        }
      },
    },
  };
}

function ResponseExamples() {
  return {
    Operation: {
      enter(op, ctx) {
        for (const [status, rawResponse] of Object.entries(op.responses || {})) {
          const response = deref(rawResponse, ctx);
          for (const [type, mt] of Object.entries(response.content || {})) {
            if (!hasExample(mt, ctx)) {
              const schemaRef = isObject(mt.schema) && mt.schema.$ref ? ` (schema ${mt.schema.$ref.split('/').pop()})` : '';
              ctx.report({
                message: `Response ${status} (${type})${schemaRef} has no example.`,
                location: ctx.location.child(['responses', status, 'content', type]),
              });
            }
          }
        }
      },
    },
  };
}

/** Problems with the bounds of one schema (a property's or a parameter's), or []. */
function boundProblems(schema) {
  const problems = [];
  const type = schema.type;
  if (type === 'string') {
    if (schema.maxLength === undefined && !Array.isArray(schema.enum) && !BOUNDED_STRING_FORMATS.has(schema.format)) {
      problems.push('a string without maxLength (or enum, or a fixed-size format such as date-time)');
    }
  } else if (type === 'integer' || type === 'number') {
    if (schema.minimum === undefined && schema.exclusiveMinimum === undefined) problems.push(`an ${type} without minimum`);
    if (schema.maximum === undefined && schema.exclusiveMaximum === undefined && !FIXED_WIDTH_INTEGER_FORMATS.has(schema.format)) {
      problems.push(`an ${type} without maximum (or format int32/int64)`);
    }
  } else if (type === 'array') {
    if (schema.maxItems === undefined) problems.push('an array without maxItems');
  }
  return problems;
}

function BoundedValues() {
  return {
    Schema: {
      enter(schema, ctx) {
        if (!isObject(schema.properties)) return;
        for (const [name, raw] of Object.entries(schema.properties)) {
          if (isObject(raw) && raw.$ref) continue; // a named schema: checked where it is defined
          for (const problem of boundProblems(effectiveSchema(raw, ctx))) {
            ctx.report({ message: `Property '${name}' is ${problem}.`, location: ctx.location.child(['properties', name]).key() });
          }
        }
      },
    },
    Parameter: {
      enter(param, ctx) {
        if (!isObject(param.schema)) return;
        for (const problem of boundProblems(effectiveSchema(param.schema, ctx))) {
          ctx.report({ message: `Parameter '${param.name}' (${param.in}) is ${problem}.`, location: ctx.location.child(['schema']) });
        }
      },
    },
  };
}

function Formats() {
  return {
    Schema: {
      enter(schema, ctx) {
        if (!isObject(schema.properties)) return;
        for (const [name, raw] of Object.entries(schema.properties)) {
          const eff = effectiveSchema(raw, ctx);
          if (eff.type !== 'string') continue;
          if (/(^|_)email$|Email$/.test(name)) {
            if (typeof eff.pattern !== 'string' || !eff.pattern.includes('@') || eff.format === 'email') {
              ctx.report({ message: `Property '${name}' should state the accepted addresses with a pattern (and no format: email).`, location: ctx.location.child(['properties', name]).key() });
            }
            continue;
          }
          let want;
          if (/(^|_)at$|[a-z]At$/.test(name)) want = 'date-time';
          if (want && eff.format !== want) {
            ctx.report({ message: `Property '${name}' should have format: ${want}.`, location: ctx.location.child(['properties', name]).key() });
          }
        }
      },
    },
  };
}

function RetryAfterHeader() {
  return {
    Operation: {
      enter(op, ctx) {
        for (const status of ['429', '503']) {
          const raw = (op.responses || {})[status];
          if (!raw) continue;
          const headers = deref(raw, ctx).headers || {};
          if (!Object.keys(headers).some((h) => h.toLowerCase() === 'retry-after')) {
            ctx.report({ message: `Response ${status} does not declare the Retry-After header it sends.`, location: ctx.location.child(['responses', status]) });
          }
        }
      },
    },
  };
}

function ResponseDescription() {
  return {
    Operation: {
      enter(op, ctx) {
        for (const [status, raw] of Object.entries(op.responses || {})) {
          const d = deref(raw, ctx).description;
          if (typeof d !== 'string' || d.trim() === '') {
            ctx.report({ message: `Response ${status} has an empty description.`, location: ctx.location.child(['responses', status, 'description']) });
          }
        }
      },
    },
  };
}

export default function contractRules() {
  return {
    id: 'contract',
    rules: {
      oas3: {
        'error-responses-use-error-schema': ErrorResponsesUseErrorSchema,
        'expected-statuses': ExpectedStatuses,
        'described-fields': DescribedFields,
        'request-examples': RequestExamples,
        'response-examples': ResponseExamples,
        'bounded-values': BoundedValues,
        formats: Formats,
        'retry-after-header': RetryAfterHeader,
        'response-description': ResponseDescription,
      },
    },
  };
}
