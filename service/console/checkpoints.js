// The audit page's signed checkpoint (administrators): the newest one, signing one now,
// and downloading it with the public key, for `runstream checkpoint verify FILE` later.

import { get, post } from './api.js';
import { errorBox, fmtTime, h, replace } from './dom.js';

const LIST = '/api/v1/audit/checkpoints';

// The file keeps the listing's shape, so that `checkpoint verify` finds the key in it.
function downloadLink(listing, checkpoint) {
  const saved = { data: { ...listing, checkpoints: [checkpoint], total: 1 } };
  const blob = new Blob([JSON.stringify(saved, null, 2) + '\n'], { type: 'application/json' });
  return h('a', {
    class: 'button secondary', id: 'download-checkpoint', href: URL.createObjectURL(blob),
    download: `runstream-checkpoint-${checkpoint.position}.json`,
  }, 'Download');
}

function shown(listing) {
  const [newest] = listing.checkpoints;
  if (!newest) return h('p', { class: 'muted', id: 'no-checkpoint' }, 'No checkpoint signed yet.');
  return h('div', { id: 'latest-checkpoint', dataset: { position: newest.position } },
    h('p', {}, `Position ${newest.position}, signed ${fmtTime(newest.signedAt)} `,
      `(${listing.total} signed so far).`),
    h('div', { class: 'mono small' }, 'Hash: ', newest.hash),
    h('div', { class: 'mono small' }, `Key ${listing.keyId} (${listing.algorithm}): `, listing.publicKey),
    h('p', { class: 'muted small' }, 'Keep the download where this service cannot write: ',
      h('code', {}, 'runstream checkpoint verify FILE'), ' proves later that the log still extends it.'),
    downloadLink(listing, newest));
}

export function checkpointPanel() {
  const box = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const load = async () => {
    try {
      replace(box, shown((await get(`${LIST}?limit=1`)).data));
    } catch (err) {
      replace(box, errorBox(err));
    }
  };
  const sign = h('button', { type: 'button', id: 'sign-checkpoint' }, 'Sign the head now');
  sign.addEventListener('click', async () => {
    sign.disabled = true;
    try {
      await post(LIST);
      await load();
    } catch (err) {
      replace(box, errorBox(err));
    } finally {
      sign.disabled = false;
    }
  });
  load();
  return h('section', { class: 'card', id: 'checkpoint-panel' }, h('h2', {}, 'Signed checkpoint'), sign, box);
}
