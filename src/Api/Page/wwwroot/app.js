// TaskStream's page: one browser EventSource on /tasks/stream with the chosen filter, a list kept in task-id
// order, and forms that write through /tasks. Task text is only ever set with textContent.
'use strict';

const $ = (selector) => document.querySelector(selector);
const ui = {
  filters: $('#filters'),
  add: $('#add'),
  token: $('#token'),
  tasks: $('#tasks'),
  empty: $('#empty'),
  message: $('#message'),
  addMessage: $('#add-message'),
  row: $('#task-row'),
  state: $('#state'),
  eventCount: $('#event-count'),
  lastId: $('#last-id'),
  reconnects: $('#reconnects'),
  silo: $('#silo'),
};

let source = null;
let filter = null;
let counts = { events: 0, tasks: 0, reconnects: 0 };

// The filter comes from the page's own query string, so a view can be bookmarked or shared.
function readFilterFromLocation() {
  const query = new URLSearchParams(location.search);
  const completed = query.get('completed');
  return {
    completed: completed === 'true' || completed === 'false' ? completed : '',
    limit: /^[1-9][0-9]{0,9}$/.test(query.get('limit') ?? '') ? query.get('limit') : '',
    follow: query.get('follow') === 'true',
  };
}

function showFilter(f) {
  ui.filters.elements.completed.value = f.completed;
  ui.filters.elements.limit.value = f.limit;
  ui.filters.elements.follow.checked = f.follow;
}

function filterQuery(f) {
  const query = new URLSearchParams();
  if (f.completed) query.set('completed', f.completed);
  if (f.limit) query.set('limit', f.limit);
  if (f.follow) query.set('follow', 'true');
  return query.toString();
}

function setState(state, detail) {
  ui.state.dataset.state = state;
  ui.state.textContent = detail ? `${state} (${detail})` : state;
}

const plural = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`;

function showCounts() {
  ui.eventCount.textContent = String(counts.events);
  ui.reconnects.textContent = plural(counts.reconnects, 'reconnect');
  ui.reconnects.hidden = counts.reconnects === 0;
}

// Which silo relayed the stream and which ran its query, from the `live` or `end` event: behind a load balancer
// a separate request (to /status) could reach another silo, and an EventSource cannot read response headers.
function showSilo(data) {
  if (!data?.relay) ui.silo.textContent = '–';
  else if (data.silo === data.relay) ui.silo.textContent = `${data.relay} (relay and query)`;
  else ui.silo.textContent = `relay ${data.relay}, query ${data.silo ?? '–'}`;
}

function showMessage(text, kind = 'error', where = ui.message) {
  where.hidden = !text;
  where.dataset.kind = kind;
  where.textContent = text ?? '';
}

// --- The list ---------------------------------------------------------------------------------------------

function rowFor(id) {
  return ui.tasks.querySelector(`li[data-id="${Number(id)}"]`);
}

function matches(task) {
  return filter.completed === '' || String(task.completed) === filter.completed;
}

function upsert(task) {
  const existing = rowFor(task.id);
  const row = existing ?? ui.row.content.firstElementChild.cloneNode(true);
  row.dataset.id = String(task.id);
  row.dataset.completed = String(task.completed);
  row.querySelector('.task-id').textContent = `#${task.id}`;
  row.querySelector('.task-title').textContent = task.title;
  row.querySelector('.task-description').textContent = task.description;
  const toggle = row.querySelector('.toggle');
  toggle.textContent = task.completed ? 'Mark open' : 'Mark done';
  toggle.setAttribute('aria-label', `${toggle.textContent}: ${task.title}`);
  row.querySelector('.delete').setAttribute('aria-label', `Delete: ${task.title}`);
  if (!existing) {
    // Keep task-id order: follow mode sends changes in sequence order, not id order.
    const after = [...ui.tasks.children].find((li) => Number(li.dataset.id) > task.id);
    ui.tasks.insertBefore(row, after ?? null);
  }
  ui.empty.hidden = true;
}

function remove(id) {
  rowFor(id)?.remove();
  ui.empty.hidden = ui.tasks.children.length > 0;
}

function clearList() {
  ui.tasks.replaceChildren();
  ui.empty.hidden = false;
}

// --- The stream ---------------------------------------------------------------------------------------------

function connect(f) {
  source?.close();
  filter = f;
  counts = { events: 0, tasks: 0, reconnects: 0 };
  clearList();
  showCounts();
  ui.lastId.textContent = '–';
  showSilo(null);
  showMessage(null);
  setState('connecting');

  const url = `/tasks/stream?${filterQuery(f)}`;
  const es = new EventSource(url);
  source = es;
  const current = (handler) => (event) => { if (source === es) handler(event); };
  const received = (event) => {
    counts.events++;
    if (event.lastEventId) ui.lastId.textContent = event.lastEventId;
    showCounts();
  };

  es.addEventListener('open', current(() => {
    setState('connected', f.follow ? 'catching up' : null);
  }));
  es.addEventListener('task', current((event) => {
    received(event);
    counts.tasks++;
    upsert(JSON.parse(event.data));
  }));
  es.addEventListener('task-deleted', current((event) => {
    received(event);
    remove(JSON.parse(event.data).id);
  }));
  es.addEventListener('reset', current((event) => {
    // The server cannot resume from where this page was: a fresh snapshot follows, so start the list over.
    received(event);
    counts.tasks = 0;
    clearList();
    setState('connected', 'starting over');
  }));
  es.addEventListener('live', current((event) => {
    received(event);
    const data = JSON.parse(event.data);
    setState('live');
    showSilo(data);
  }));
  es.addEventListener('end', current((event) => {
    // The stream is complete: close, or the browser would reconnect (and be told 204).
    received(event);
    es.close();
    const data = JSON.parse(event.data);
    // The end's count covers its own connection only; after a resume the page has more.
    setState('ended', plural(counts.tasks, 'task'));
    showSilo(data);
  }));
  es.addEventListener('error', current(() => {
    if (es.readyState === EventSource.CONNECTING) {
      // The server went away; the browser retries after `retry` ms and sends Last-Event-ID itself.
      counts.reconnects++;
      showCounts();
      setState('reconnecting');
    } else if (es.readyState === EventSource.CLOSED) {
      explainClose(url);
    }
  }));
}

// EventSource closes for good on 204 (nothing left to resume) or on an error status, without saying which:
// ask again as it did (with its Last-Event-ID) and read the status.
async function explainClose(url) {
  const abort = new AbortController();
  const headers = { Accept: 'text/event-stream' };
  if (/^[0-9]+$/.test(ui.lastId.textContent)) headers['Last-Event-ID'] = ui.lastId.textContent;
  try {
    const response = await fetch(url, { headers, signal: abort.signal });
    if (response.ok) {
      setState('ended');
    } else {
      setState('failed', `HTTP ${response.status}`);
      showMessage(await problemText(response));
    }
  } catch {
    setState('failed', 'server unreachable');
  } finally {
    abort.abort();
  }
}

// --- Writes -------------------------------------------------------------------------------------------------

async function problemText(response) {
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    return `HTTP ${response.status}`;
  }
  const lines = [problem.detail ?? problem.title ?? `HTTP ${response.status}`];
  for (const [field, messages] of Object.entries(problem.errors ?? {})) {
    lines.push(`${field}: ${[].concat(messages).join(' ')}`);
  }
  return lines.join('\n');
}

// Sends a write; shows a refusal (problem detail and field errors) in `where` and returns null.
async function write(method, path, body, where = ui.message) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = ui.token.value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    showMessage('The server could not be reached.', 'error', where);
    return null;
  }
  if (!response.ok) {
    showMessage(await problemText(response), 'error', where);
    return null;
  }
  showMessage(null, 'error', where);
  return response.status === 204 ? {} : response.json();
}

// Follow mode shows every change as the stream reports it; a finished stream is brought up to date here.
function applyLocally(task) {
  if (filter.follow) return;
  if (matches(task)) upsert(task); else remove(task.id);
}

ui.add.addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = ui.add.elements;
  const task = await write('POST', '/tasks', {
    title: form.title.value,
    description: form.description.value,
    completed: form.completed.checked,
  }, ui.addMessage);
  if (!task) return;
  ui.add.reset();
  if (!filter.follow) showMessage(`Added task #${task.id}. Tick "Follow changes" to see changes as they happen.`, 'info', ui.addMessage);
});

ui.tasks.addEventListener('click', async (event) => {
  const button = event.target.closest('button');
  const row = button?.closest('li[data-id]');
  if (!row) return;
  const id = Number(row.dataset.id);
  button.disabled = true;
  try {
    if (button.classList.contains('toggle')) {
      const task = await write('PATCH', `/tasks/${id}`, { completed: row.dataset.completed !== 'true' });
      if (task) applyLocally(task);
    } else if (button.classList.contains('delete')) {
      if (await write('DELETE', `/tasks/${id}`) && !filter.follow) remove(id);
    }
  } finally {
    button.disabled = false;
  }
});

// --- Filters --------------------------------------------------------------------------------------------------

ui.filters.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!ui.filters.reportValidity()) return;
  const form = ui.filters.elements;
  const f = { completed: form.completed.value, limit: form.limit.value.trim(), follow: form.follow.checked };
  const query = filterQuery(f);
  history.replaceState(null, '', query ? `/?${query}` : '/');
  connect(f);
});
// Choosing from the list or ticking the box applies at once; the limit applies on Enter or Show.
ui.filters.elements.completed.addEventListener('change', () => ui.filters.requestSubmit());
ui.filters.elements.follow.addEventListener('change', () => ui.filters.requestSubmit());

const initial = readFilterFromLocation();
showFilter(initial);
connect(initial);
