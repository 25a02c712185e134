// The plugins page: uploads a .wasm file, picked or dropped, and opens the new plugin's page.

const dropZone = document.getElementById('drop-zone');
const fileInput = document.getElementById('upload-file');
const status = document.getElementById('upload-status');

/** The server's upload limit as the page shows it ("16 MiB"), and in bytes. */
const maxUploadText = dropZone.dataset.maxUpload;
const maxUploadBytes = parseSize(maxUploadText);

let uploading = false;

/** Bytes in "16 MiB", "512 KiB", "2 MB", "100 B"; null when the text is not a size. */
function parseSize(text) {
  const match = /^\s*([\d.]+)\s*([KMGT]?i?B|bytes?)?\s*$/i.exec(text ?? '');
  if (!match) return null;
  const units = { B: 1, BYTE: 1, BYTES: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };
  const unit = (match[2] ?? 'B').toUpperCase();
  const binary = /^([KMGT])IB$/.exec(unit);
  const factor = binary ? 1024 ** ('KMGT'.indexOf(binary[1]) + 1) : units[unit];
  const value = Number(match[1]);
  return factor && Number.isFinite(value) ? value * factor : null;
}

/** "1.2 MiB", "16 MiB": the style of the server's sizes. */
function formatSize(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return Number.isInteger(value) ? `${value} ${units[unit]}` : `${value.toFixed(1)} ${units[unit]}`;
}

function showStatus(text) {
  status.replaceChildren(text);
}

function showError(message, kind) {
  const error = document.createElement('span');
  error.className = 'error';
  if (kind) error.dataset.kind = kind;
  error.textContent = message;
  status.replaceChildren(error);
}

/**
 * Posts the file's bytes. XMLHttpRequest rather than fetch because it reports upload
 * progress. The server answers 202 at once and compiles in the background.
 */
function post(file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', '/api/plugins');
    request.setRequestHeader('Content-Type', 'application/wasm');
    request.setRequestHeader('Prefer', 'respond-async');
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener('load', () => resolve({ status: request.status, text: request.responseText }));
    request.addEventListener('error', () => reject(new Error('the connection failed')));
    request.send(file);
  });
}

/** The server's error envelope, or one made from the status. */
function errorOf(response) {
  try {
    const body = JSON.parse(response.text);
    if (body?.error?.message) return body.error;
  } catch {
    // Not JSON: described from the status below.
  }
  if (response.status === 413) {
    return { kind: 'too_large', message: `too large (the limit is ${maxUploadText})` };
  }
  return { kind: `HTTP ${response.status}`, message: response.text.trim().slice(0, 500) || 'upload failed' };
}

/** How often the page asks whether a compiling upload is done. */
const POLL_MS = 400;

/** Waits for a background compile to end; resolves with the final response. */
async function compiled(sha256) {
  const started = Date.now();
  for (;;) {
    const response = await fetch(`/api/uploads/${encodeURIComponent(sha256)}`);
    const text = await response.text();
    const body = response.ok ? JSON.parse(text) : null;
    if (!response.ok || body.status !== 'compiling') return { status: response.status, text };
    const seconds = Math.round((Date.now() - started) / 1000);
    showStatus(`compiling… ${seconds} s (a large JavaScript or Python plugin takes a few seconds, once)`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function upload(file) {
  if (uploading) return;
  if (maxUploadBytes !== null && file.size > maxUploadBytes) {
    showError(`${file.name} is too large (${formatSize(file.size)}, the limit is ${maxUploadText})`, 'too_large');
    return;
  }
  uploading = true;
  dropZone.classList.add('busy');
  showStatus('uploading…');
  try {
    let response = await post(file, (share) => showStatus(`uploading… ${Math.round(share * 100)} %`));
    if (response.status === 202) {
      showStatus('compiling…');
      response = await compiled(JSON.parse(response.text).sha256);
    }
    if (response.status >= 200 && response.status < 300) {
      const { plugin } = JSON.parse(response.text);
      showStatus(response.status === 201 ? 'Uploaded. Opening…' : 'Already in the library. Opening…');
      location.assign(`/plugins/${encodeURIComponent(plugin.sha256)}`);
      return;
    }
    const error = errorOf(response);
    showError(error.message, error.kind);
  } catch (e) {
    showError(`upload failed: ${e.message}`);
  } finally {
    uploading = false;
    dropZone.classList.remove('busy');
    // Choosing the same file again should upload it again.
    fileInput.value = '';
  }
}

fileInput.addEventListener('change', () => {
  if (fileInput.files.length > 0) upload(fileInput.files[0]);
});

for (const type of ['dragenter', 'dragover']) {
  dropZone.addEventListener(type, (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
    dropZone.classList.add('dragging');
  });
}

dropZone.addEventListener('dragleave', (event) => {
  if (!dropZone.contains(event.relatedTarget)) dropZone.classList.remove('dragging');
});

dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('dragging');
  const files = event.dataTransfer.files;
  if (files.length > 1) {
    showError('drop one .wasm file at a time');
  } else if (files.length === 1) {
    upload(files[0]);
  }
});

// A file dropped beside the zone would otherwise replace the page with the file.
for (const type of ['dragover', 'drop']) {
  window.addEventListener(type, (event) => event.preventDefault());
}

// ---------------------------------------------------------------------------
// The library: search, rename and delete

const search = document.getElementById('plugin-search');

/** Shows the rows whose text holds every word of the search, any case. */
function filterLibrary() {
  const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const row of document.querySelectorAll('.library-table tbody tr')) {
    const text = `${row.textContent} ${row.dataset.sha256}`.toLowerCase();
    row.hidden = !words.every((word) => text.includes(word));
  }
}

for (const event of ['input', 'change', 'search']) search?.addEventListener(event, filterLibrary);

/** An error of the API, as one line. */
async function apiError(response) {
  try {
    const body = await response.json();
    return body?.error?.message ?? `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

/** Deletes a plugin or script, after asking; its row goes. */
async function deletePlugin(row) {
  const name = row.querySelector('.plugin-name a').textContent;
  if (!confirm(`Delete ${name}? Shared links that run it will say it is gone.`)) return;
  const response = await fetch(`/api/plugins/${encodeURIComponent(row.dataset.sha256)}`, { method: 'DELETE' });
  if (!response.ok) return showStatus(`Not deleted: ${await apiError(response)}`);
  row.remove();
  showStatus(`Deleted ${name}.`);
}

/** Turns a row's name into a field; Enter (or Save) renames, Escape keeps the name. */
function startRename(row) {
  const cell = row.querySelector('.plugin-name');
  const link = cell.querySelector('a');
  const input = document.createElement('input');
  input.type = 'text';
  input.value = link.textContent;
  input.maxLength = 80;
  input.setAttribute('aria-label', 'New name');
  const save = document.createElement('button');
  save.type = 'button';
  save.className = 'small';
  save.textContent = 'Save';
  const before = [...cell.childNodes];
  cell.replaceChildren(input, ' ', save);
  input.focus();
  input.select();
  const done = () => cell.replaceChildren(...before);
  const submit = async () => {
    const response = await fetch(`/api/plugins/${encodeURIComponent(row.dataset.sha256)}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: input.value }),
    });
    if (!response.ok) return showStatus(`Not renamed: ${await apiError(response)}`);
    const { plugin } = await response.json();
    link.textContent = plugin.label ?? plugin.name;
    done();
    showStatus(`Renamed to ${link.textContent}.`);
  };
  save.addEventListener('click', submit);
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') submit();
    if (event.key === 'Escape') done();
  });
}

for (const table of document.querySelectorAll('.library-table')) {
  table.addEventListener('click', (event) => {
    const row = event.target.closest('tr');
    if (event.target.closest('button.delete')) deletePlugin(row);
    if (event.target.closest('button.rename')) startRename(row);
  });
}
