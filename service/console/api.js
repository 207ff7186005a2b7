// The one place the console talks to the API: JSON in, `{data, pagination}` out, errors thrown.

import { LIMITS } from './vocabulary.js';

export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details; // e.g. a 422's {nodeIds, errors}
  }
}

export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  // A JSON content type (and the browser's same-origin Origin) satisfy the CSRF rule, also
  // on a write without a body (DELETE).
  if (method !== 'GET') init.headers['Content-Type'] = 'application/json';
  if (body !== undefined) init.body = JSON.stringify(body);
  const resp = await fetch(path, init);
  const text = await resp.text();
  let payload = null;
  if (text) {
    try { payload = JSON.parse(text); } catch { payload = null; }
  }
  if (!resp.ok) {
    const err = (payload && payload.error) || {};
    throw new ApiError(resp.status, err.code || 'error', err.message || `${resp.status} ${resp.statusText}`, err.details || null);
  }
  return { data: payload ? payload.data : null, pagination: payload ? payload.pagination : null, headers: resp.headers };
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body ?? {});
export const put = (path, body) => api('PUT', path, body ?? {});
export const patch = (path, body) => api('PATCH', path, body ?? {});
export const del = (path) => api('DELETE', path);

/** A query string from an object, skipping empty values. */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Every page of a run's raw events after `after` (the endpoint pages by position). */
export async function runEvents(runId, after = 0) {
  const events = [];
  for (;;) {
    const { data } = await get(`/api/v1/workflow-runs/${runId}/events${qs({ after, limit: LIMITS.MAX_EVENTS_PAGE })}`);
    events.push(...data);
    if (data.length < 1000) return events;
    after = data[data.length - 1].position;
  }
}

/**
 * Start a run through the streaming endpoint and return its id as soon as the response
 * headers name it; the run goes on after we hang up (onDisconnect=continue).
 */
export async function startRun(workflowId, inputs) {
  const controller = new AbortController();
  const resp = await fetch('/api/v1/workflow-runs/execute/stream?onDisconnect=continue', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ workflowId, inputs }),
    signal: controller.signal,
  });
  if (!resp.ok) {
    let err = {};
    try { err = (await resp.json()).error || {}; } catch { err = {}; }
    throw new ApiError(resp.status, err.code || 'error', err.message || `${resp.status} ${resp.statusText}`);
  }
  const runId = resp.headers.get('X-Workflow-Run-Id');
  controller.abort();
  return runId;
}
