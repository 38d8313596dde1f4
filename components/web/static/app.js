// The todo-chatbot page: plain DOM, no framework, no build step. Talks to the same origin only
// (the Content-Security-Policy allows nothing else): chat-api's /api/..., notification-service's
// /notifications/inbox. Contracts: docs/contracts.md.
'use strict';

const TOKEN_KEY = 'todo.token';
const CONVERSATION_KEY = 'todo.conversation';
const INBOX_POLL_MS = 15000;
const PAGE_SIZE = 50;

const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  cursor: null,
  query: null,
  tasks: new Map(),
  inboxTimer: null,
  inboxAvailable: true,
  listGeneration: 0,
};

class ApiError extends Error {
  constructor(status, body) {
    const error = body && body.error;
    super(error && error.message ? error.message : `The server answered ${status}.`);
    this.status = status;
    this.code = error && error.code;
    this.field = error && error.field;
  }
}

// One request to the API: JSON in, JSON out; an error body becomes an ApiError.
async function api(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (state.token) init.headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { error: { message: 'The server cannot be reached. Check your connection.' } });
  }
  const text = await response.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch (e) { json = null; }
  }
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith('/notifications/')) {
      showAlert('Your token was refused (expired, or signed with another secret). Sign in again.');
      signOut(false);
    }
    throw new ApiError(response.status, json);
  }
  return json;
}

// ---- messages --------------------------------------------------------------------------------

function showAlert(message) {
  const alert = $('alert');
  alert.textContent = message;
  alert.hidden = false;
}

function clearAlert() {
  $('alert').hidden = true;
  $('alert').textContent = '';
}

function report(error) {
  showAlert(error instanceof ApiError ? error.message : String(error));
}

// ---- sign in ---------------------------------------------------------------------------------

// The token's `sub`, for display only (the server checks the token).
function subjectOf(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload)).sub || null;
  } catch (e) {
    return null;
  }
}

function showSignedIn() {
  const signedIn = Boolean(state.token);
  $('sign-in').hidden = signedIn;
  $('app').hidden = !signedIn;
  $('sign-out').hidden = !signedIn;
  $('who').hidden = !signedIn;
  if (signedIn) {
    const sub = subjectOf(state.token);
    $('who').textContent = sub ? `Signed in as ${sub}` : 'Signed in';
  }
}

function signIn(token) {
  state.token = token.trim().replace(/^Bearer\s+/i, '');
  sessionStorage.setItem(TOKEN_KEY, state.token);
  clearAlert();
  showSignedIn();
  $('chat-message').focus();
  reloadTasks();
  startInbox();
}

function signOut(clearMessage = true) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(CONVERSATION_KEY);
  stopInbox();
  $('task-list').replaceChildren();
  $('chat-log').replaceChildren();
  $('reminder-list').replaceChildren();
  if (clearMessage) clearAlert();
  showSignedIn();
  $('token').value = '';
  $('token').focus();
}

// ---- chat ------------------------------------------------------------------------------------

function addChatLine(role, text) {
  const item = document.createElement('li');
  item.className = `msg ${role}`;
  const who = document.createElement('span');
  who.className = 'visually-hidden';
  who.textContent = role === 'user' ? 'You: ' : 'Assistant: ';
  item.append(who, text);
  $('chat-log').append(item);
  item.scrollIntoView({ block: 'nearest' });
  return item;
}

async function sendChat(message) {
  addChatLine('user', message);
  try {
    const reply = await postChat(message, sessionStorage.getItem(CONVERSATION_KEY));
    sessionStorage.setItem(CONVERSATION_KEY, reply.conversation_id);
    addChatLine('assistant', reply.response);
    if ((reply.tool_calls || []).some((call) => call.name !== 'list_tasks')) reloadTasks();
  } catch (e) {
    if (e.status === 404) {
      // 404 to a new conversation: this server has no chat route (yet).
      const notice = $('chat-notice');
      notice.textContent = 'The chat assistant is not available on this server yet. '
        + 'Use the task list below.';
      notice.hidden = false;
    } else {
      report(e);
    }
  }
}

// POST /api/chat; a conversation the server no longer knows (404) starts a new one.
async function postChat(message, conversationId) {
  // The browser's zone: chat-api reads "tomorrow 9am" in it.
  const request = { message, time_zone: browserTimeZone() };
  if (conversationId) request.conversation_id = conversationId;
  try {
    // A create: a retried request with the same key is answered once.
    return await api('POST', '/api/chat', {
      body: request,
      headers: { 'Idempotency-Key': crypto.randomUUID() },
    });
  } catch (e) {
    if (e.status !== 404 || !conversationId) throw e;
    sessionStorage.removeItem(CONVERSATION_KEY);
    return postChat(message, null);
  }
}

// ---- tasks -----------------------------------------------------------------------------------

function startOfLocalDay(offsetDays) {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  d.setDate(d.getDate() + offsetDays);
  return d;
}

// The GET /api/tasks query of the filter form (docs/contracts.md, "List").
function listQuery() {
  const form = $('filters').elements;
  const query = new URLSearchParams();
  const search = form.search.value.trim();
  if (search) query.set('search', search);
  query.set('status', form.status.value);
  if (form.priority.value) query.set('priority', form.priority.value);
  const tag = form.tag.value.trim().replace(/^#/, '');
  if (tag) query.set('tags', tag);
  // due_after is strict (>): one millisecond before the day starts.
  const justBefore = (d) => new Date(d.getTime() - 1).toISOString();
  switch (form.due.value) {
    case 'overdue': query.set('overdue', 'true'); break;
    case 'today':
      query.set('due_after', justBefore(startOfLocalDay(0)));
      query.set('due_before', startOfLocalDay(1).toISOString());
      break;
    case 'week':
      query.set('due_after', justBefore(startOfLocalDay(0)));
      query.set('due_before', startOfLocalDay(7).toISOString());
      break;
    case 'dated': query.set('has_due_date', 'true'); break;
    case 'undated': query.set('has_due_date', 'false'); break;
    default: break;
  }
  query.set('sort', form.sort.value);
  if (form.order.value) query.set('order', form.order.value);
  query.set('limit', String(PAGE_SIZE));
  return query;
}

async function reloadTasks() {
  state.cursor = null;
  state.tasks.clear();
  state.query = listQuery();
  $('more').hidden = true; // its cursor belongs to the list being replaced
  await loadTasks(true);
}

// After a filter changed: reload unless the query is the one shown (a text field also fires
// `change` when it merely loses focus).
function refilter() {
  if (!state.query || listQuery().toString() !== state.query.toString()) reloadTasks();
}

// The first page (`replace`) or the next one, always of the query that gave the cursor (a
// cursor is only valid with the filters and sort it came from).
async function loadTasks(replace) {
  const generation = ++state.listGeneration;
  const query = new URLSearchParams(state.query);
  if (!replace && state.cursor) query.set('cursor', state.cursor);
  try {
    const page = await api('GET', `/api/tasks?${query}`);
    if (generation !== state.listGeneration) return; // a newer load replaced this one
    const list = $('task-list');
    if (replace) list.replaceChildren();
    for (const task of page.items) {
      state.tasks.set(task.id, task);
      list.append(renderTask(task));
    }
    state.cursor = page.next_cursor;
    $('more').hidden = !state.cursor;
    const shown = state.tasks.size;
    $('task-count').textContent = shown === 0 ? 'No tasks match.'
      : `${shown}${state.cursor ? '+' : ''} task${shown === 1 ? '' : 's'}`;
  } catch (e) {
    report(e);
  }
}

function describeDue(iso) {
  const due = new Date(iso);
  const text = due.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  return due < new Date() ? `overdue since ${text}` : `due ${text}`;
}

function renderTask(task) {
  const item = $('task-template').content.firstElementChild.cloneNode(true);
  item.dataset.id = task.id;
  const done = task.status === 'completed';
  item.classList.toggle('completed', done);
  const checkbox = item.querySelector('.done');
  checkbox.id = `done-${task.id}`;
  checkbox.checked = done;
  checkbox.setAttribute('aria-label', `${done ? 'Reopen' : 'Complete'} ${task.title}`);
  checkbox.addEventListener('change', () => setCompleted(task.id, checkbox.checked, checkbox));
  const title = item.querySelector('.title');
  title.htmlFor = checkbox.id;
  title.textContent = task.title;
  const meta = [`${task.priority} priority`];
  if (task.status === 'in_progress') meta.push('in progress');
  if (task.due_date) meta.push(done ? `was due ${new Date(task.due_date).toLocaleDateString()}` : describeDue(task.due_date));
  if (task.recurrence_rule) meta.push(`repeats ${task.recurrence_rule}`);
  if (task.remind_at && !done) meta.push(`reminder ${new Date(task.remind_at).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })}`);
  for (const tag of task.tags) meta.push(`#${tag}`);
  item.querySelector('.meta').textContent = meta.join(' · ');
  item.classList.add(`priority-${task.priority}`);
  const edit = item.querySelector('.edit');
  edit.setAttribute('aria-label', `Edit ${task.title}`);
  edit.addEventListener('click', () => openEditor(item, task));
  const remove = item.querySelector('.delete');
  remove.setAttribute('aria-label', `Delete ${task.title}`);
  remove.addEventListener('click', () => deleteTask(task));
  return item;
}

function replaceTask(task) {
  state.tasks.set(task.id, task);
  const old = $('task-list').querySelector(`[data-id="${task.id}"]`);
  const fresh = renderTask(task);
  if (old) old.replaceWith(fresh);
  return fresh;
}

const ifMatch = (task) => ({ 'If-Match': `"${task.version}"` });

// A write refused because the task changed meanwhile (412) or vanished (404): show the news.
function staleWrite(e) {
  if (e.status === 412 || e.status === 404) {
    showAlert(e.status === 412
      ? 'This task was changed elsewhere; the list now shows its current state.'
      : 'This task no longer exists.');
    reloadTasks();
    return true;
  }
  return false;
}

async function setCompleted(id, complete, control) {
  const task = state.tasks.get(id);
  try {
    const action = complete ? 'complete' : 'reopen';
    const updated = await api('POST', `/api/tasks/${id}/${action}`, { headers: ifMatch(task) });
    clearAlert();
    const row = replaceTask(updated);
    row.querySelector('.done').focus();
    // A completed recurring task gets its next occurrence shortly (through recurring-task-service).
    if (complete && updated.recurrence_rule) setTimeout(reloadTasks, 1500);
  } catch (e) {
    control.checked = !complete;
    if (!staleWrite(e)) report(e);
  }
}

async function deleteTask(task) {
  if (!window.confirm(`Delete "${task.title}"?`)) return;
  try {
    await api('DELETE', `/api/tasks/${task.id}`, { headers: ifMatch(task) });
    state.tasks.delete(task.id);
    const row = $('task-list').querySelector(`[data-id="${task.id}"]`);
    if (row) row.remove();
    clearAlert();
    $('new-title').focus();
  } catch (e) {
    if (!staleWrite(e)) report(e);
  }
}

// `YYYY-MM-DDTHH:MM` in local time, what <input type="datetime-local"> shows.
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function openEditor(item, task) {
  const form = $('edit-template').content.firstElementChild.cloneNode(true);
  form.setAttribute('aria-label', `Edit ${task.title}`);
  form.elements.title.value = task.title;
  form.elements.priority.value = task.priority;
  form.elements.due.value = toLocalInput(task.due_date);
  const close = () => { form.replaceWith(renderTask(state.tasks.get(task.id) || task)); };
  form.querySelector('.cancel').addEventListener('click', () => {
    close();
    const row = $('task-list').querySelector(`[data-id="${task.id}"] .edit`);
    if (row) row.focus();
  });
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') form.querySelector('.cancel').click();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    // Only what changed: a PATCH that changes nothing is allowed but pointless.
    const patch = {};
    const title = form.elements.title.value.trim();
    if (title !== task.title) patch.title = title;
    if (form.elements.priority.value !== task.priority) patch.priority = form.elements.priority.value;
    // The input shows minutes: an untouched value keeps the stored due date, seconds and all.
    const due = form.elements.due.value;
    if (due !== toLocalInput(task.due_date)) patch.due_date = due ? new Date(due).toISOString() : null;
    try {
      const updated = Object.keys(patch).length === 0 ? task
        : await api('PATCH', `/api/tasks/${task.id}`, { body: patch, headers: ifMatch(task) });
      state.tasks.set(updated.id, updated);
      clearAlert();
      const row = renderTask(updated);
      form.replaceWith(row);
      row.querySelector('.edit').focus();
    } catch (e) {
      if (!staleWrite(e)) report(e);
    }
  });
  item.replaceWith(form);
  form.elements.title.focus();
}

// The browser's IANA time zone (null when it has none to tell: the server's default applies).
function browserTimeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
}

async function createTask(title) {
  try {
    const body = { title };
    if (browserTimeZone()) body.time_zone = browserTimeZone();
    await api('POST', '/api/tasks', {
      body,
      headers: { 'Idempotency-Key': crypto.randomUUID() },
    });
    clearAlert();
    await reloadTasks();
    return true;
  } catch (e) {
    report(e);
    return false;
  }
}

// ---- reminders (notification-service's inbox) ---------------------------------------------

function renderReminder(entry) {
  const item = document.createElement('li');
  item.className = entry.read_at ? 'reminder read' : 'reminder';
  const text = document.createElement('span');
  const due = new Date(entry.due_date).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  text.textContent = `${entry.task_title} — due ${due}`;
  item.append(text);
  if (!entry.read_at) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Mark read';
    button.setAttribute('aria-label', `Mark reminder for ${entry.task_title} read`);
    button.addEventListener('click', async () => {
      try {
        await api('POST', `/notifications/inbox/${encodeURIComponent(entry.id)}/read`);
        await pollInbox();
      } catch (e) {
        report(e);
      }
    });
    item.append(button);
  }
  return item;
}

async function pollInbox() {
  if (!state.token || !state.inboxAvailable) return;
  try {
    const inbox = await api('GET', '/notifications/inbox?limit=20');
    $('reminders').hidden = false;
    $('unread').textContent = inbox.unread_count ? `${inbox.unread_count} unread` : '';
    $('reminder-list').replaceChildren(...inbox.items.map(renderReminder));
    if (inbox.items.length === 0) {
      const empty = document.createElement('li');
      empty.className = 'muted';
      empty.textContent = 'No reminders have fired yet.';
      $('reminder-list').append(empty);
    }
  } catch (e) {
    if (e.status === 404) {
      // No notification-service on this server: no panel, no more polling.
      state.inboxAvailable = false;
      $('reminders').hidden = true;
      stopInbox();
    }
    // Other failures are transient; the next poll tries again.
  }
}

function startInbox() {
  stopInbox();
  state.inboxAvailable = true;
  pollInbox();
  state.inboxTimer = setInterval(() => { if (!document.hidden) pollInbox(); }, INBOX_POLL_MS);
}

function stopInbox() {
  if (state.inboxTimer) clearInterval(state.inboxTimer);
  state.inboxTimer = null;
}

// ---- wiring ----------------------------------------------------------------------------------

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

document.addEventListener('DOMContentLoaded', () => {
  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token').value.trim();
    if (token) signIn(token);
  });
  $('sign-out').addEventListener('click', () => signOut());

  $('chat-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('chat-message');
    const message = input.value.trim();
    if (!message) return;
    input.value = '';
    const button = event.target.querySelector('button');
    button.disabled = true;
    try {
      await sendChat(message);
    } finally {
      button.disabled = false;
      input.focus();
    }
  });

  $('new-task').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('new-title');
    const title = input.value.trim();
    if (title && await createTask(title)) input.value = '';
    input.focus();
  });

  const filters = $('filters');
  filters.addEventListener('submit', (event) => { event.preventDefault(); reloadTasks(); });
  filters.addEventListener('change', refilter);
  const typed = debounce(refilter, 300);
  filters.elements.search.addEventListener('input', typed);
  filters.elements.tag.addEventListener('input', typed);
  $('more').addEventListener('click', () => loadTasks(false));

  showSignedIn();
  if (state.token) {
    reloadTasks();
    startInbox();
  }
});
