// The xinbao console: a read-only view of the ledger for supervisors, fund managers,
// banks, insurers' claims desks and auditors. Everything it shows comes from this node's
// HTTP API (/v1/...); it holds no key and writes nothing. Text from the ledger is put in
// the page as text (never as markup).
'use strict';

const I18N = {
  zh: {
    brand: '信保链', loading: '加载中…', search: '搜索', search_hint: '交易/区块哈希、高度、项目、保单、贷款、理赔、基金或机构编号',
    network: '网络', blocks: '区块', programmes: '合作项目', claims: '理赔台', filings: '费率备案', orgs: '机构', governance: '治理', evidence: '违规证据',
    chain_id: '链标识', height: '高度', block_rate: '出块速率（块/分）', mempool: '待打包交易', peers: '对等节点', latest_block: '最新区块', date: '账本日期',
    validators: '验证节点', org: '机构', key: '公钥', voting_power: '投票权', last_signed: '最近签名高度', signed: '已签', proposed: '已提议', missed: '缺签',
    window_note: '最近 {n} 个区块（高度 {from}–{to}）',
    signed_note: '签名按提交证书计：证书只需超过 2/3 的投票权，迟到的票不在其中，计为缺签。',
    live_feed: '实时新区块', recent_blocks: '最近区块', time: '时间', txs: '交易数', rejected: '被拒', proposer: '提议者', signers: '签名者', power: '签名投票权',
    older: '更早', next_page: '下一页', shown: '显示', block: '区块', header: '区块头', certificate: '提交证书', round: '轮次', transactions: '交易', index: '序号', type: '类型', outcome: '结果', code: '代码', meaning: '含义',
    Accepted: '已接受', Rejected: '已拒绝', tx: '交易', tx_json: '交易内容（JSON）', signatures: '签名', pending: '待打包', committed: '已上链', revoked: '已撤销',
    no_results: '未找到：', results: '搜索结果', kind: '类别',
    programme: '项目', status: '状态', warnings: '预警', premium_written: '保费收入', claims_gross: '赔款总额', loss_ratio: '赔付率', overdue_ratio: '逾期率',
    outstanding: '贷款余额', overdue_principal: '逾期本金', thresholds: '阈值', warn_line: '预警线', suspend_line: '暂停线', insurer: '保险机构', government: '政府', fund: '基金', banks: '合作银行', reinsurer: '再保险人',
    split: '风险分担', bank_share: '银行', insurer_share: '保险', fund_share: '基金', period: '期限', product: '产品',
    loss_ratio_chart: '赔付率（月末）', overdue_ratio_chart: '逾期率（月末）', now: '当前',
    fund_balance: '基金余额', annual_cap: '年度赔付上限', paid_this_year: '本年已付', cap_used: '上限使用', subsidies_paid: '已付保费补贴', compensation_paid: '已付补偿',
    Active: '正常', Suspended: '已暂停', LossRatio: '赔付率预警', OverdueRatio: '逾期率预警',
    claim: '理赔', loan: '贷款', bank: '银行', filed: '报案日', docs_complete: '资料齐全日', decision_due: '核定期限', decided: '核定日', payment_due: '赔付期限', paid: '赔付日',
    late: '迟付（拖赔）', overdue: '逾期未办（惜赔/拖赔）', loss: '损失', bank_retained: '银行自担', insurer_gross: '保险承担（毛）', insurer_pays_bank: '保险赔付银行', fund_part: '基金补偿', fund_shortfall: '基金不足转保险',
    reinsurer_part: '再保险摊回', insurer_retained: '保险自留', recovered: '已追偿', claim_split: '损失分摊', claim_dates: '时限', claim_events: '经过',
    Filed: '已报案', AwaitingDocuments: '待补资料', Approved: '已核赔', Paid: '已赔付',
    open_claims: '未结', overdue_claims: '逾期', late_claims: '迟付', all_claims: '全部', per_insurer: '按保险机构', yes: '是', no: '否',
    filing_ref: '备案号', rates: '费率', policies_issued: '依此签发的保单', valid: '有效期', in_force: '生效中', expired: '不在有效期',
    premiums_written: '保费收入', premiums_on_loans: '贷款保费', subsidies: '保费补贴', claims_paid: '赔付支出', claims_received: '赔款收入', fund_compensation: '基金补偿', reinsurance: '再保险', losses_retained: '自担损失', recoveries: '追偿',
    changes: '变更', changes_validators: '改变验证节点', first_vote: '第一票', second_vote: '第二票', validator: '验证节点', none: '无',
    record: '记录', flagged: '已列入黑名单', enterprise: '企业', policy: '保单', principal: '本金', term: '期限（月）', issued: '签发日', premium: '保费', subsidy: '补贴', insured: '保险金额',
    attestation: '信用证明', attestations: '信用证明', eligibility: '准入条件', grades: '等级', issuers: '出具机构', grade: '等级', issuer: '出具机构',
    valid_from: '生效日', valid_to: '到期日', qualified_by: '签发时满足条件的证明', no_eligibility: '无准入条件',
    crypto_suite: '密码套件', protocol_version: '协议版本', next_version: '下一高度版本', supported_versions: '本节点支持', pending_upgrade: '待生效升级', eras: '协议版本时期',
    version: '版本', activation_height: '生效高度', first_height: '起始高度', scheduled_height: '排期高度', scheduled_by: '排期交易', from_height: '自高度 {h} 起',
    error: '出错了', live: '实时', connected: '已连接', reconnecting: '重连中',
    footer: '只读控制台：数据来自本节点，未保存任何私钥。',
  },
  en: {
    brand: 'xinbao', loading: 'Loading…', search: 'Search', search_hint: 'tx/block hash, height, programme, policy, loan, claim, fund or organisation id',
    network: 'Network', blocks: 'Blocks', programmes: 'Programmes', claims: 'Claims desk', filings: 'Rate filings', orgs: 'Organisations', governance: 'Governance', evidence: 'Evidence',
    chain_id: 'Chain id', height: 'Height', block_rate: 'Block rate (per min)', mempool: 'Pending txs', peers: 'Peers', latest_block: 'Latest block', date: 'Ledger date',
    validators: 'Validators', org: 'Organisation', key: 'Key', voting_power: 'Voting power', last_signed: 'Last signed', signed: 'Signed', proposed: 'Proposed', missed: 'Missed',
    window_note: 'last {n} blocks (heights {from}–{to})',
    signed_note: 'Counted from the commit certificates: a certificate needs only more than 2/3 of the voting power, so a vote that came late is not in it and counts as missed.',
    live_feed: 'Live: new blocks', recent_blocks: 'Recent blocks', time: 'Time', txs: 'Txs', rejected: 'Rejected', proposer: 'Proposer', signers: 'Signers', power: 'Signing power',
    older: 'Older', next_page: 'Next page', shown: 'Showing', block: 'Block', header: 'Header', certificate: 'Commit certificate', round: 'Round', transactions: 'Transactions', index: '#', type: 'Type', outcome: 'Outcome', code: 'Code', meaning: 'Meaning',
    Accepted: 'Accepted', Rejected: 'Rejected', tx: 'Transaction', tx_json: 'Transaction (JSON)', signatures: 'Signatures', pending: 'Pending', committed: 'Committed', revoked: 'revoked',
    no_results: 'Nothing found for ', results: 'Results', kind: 'Kind',
    programme: 'Programme', status: 'Status', warnings: 'Warnings', premium_written: 'Premium written', claims_gross: 'Claims gross', loss_ratio: 'Loss ratio', overdue_ratio: 'Overdue ratio',
    outstanding: 'Outstanding principal', overdue_principal: 'Overdue principal', thresholds: 'Thresholds', warn_line: 'warning', suspend_line: 'suspension', insurer: 'Insurer', government: 'Government', fund: 'Fund', banks: 'Banks', reinsurer: 'Reinsurer',
    split: 'Loss split', bank_share: 'bank', insurer_share: 'insurer', fund_share: 'fund', period: 'Period', product: 'Product',
    loss_ratio_chart: 'Loss ratio (month ends)', overdue_ratio_chart: 'Overdue ratio (month ends)', now: 'now',
    fund_balance: 'Fund balance', annual_cap: 'Annual cap', paid_this_year: 'Paid this year', cap_used: 'Cap used', subsidies_paid: 'Subsidies paid', compensation_paid: 'Compensation paid',
    Active: 'Active', Suspended: 'Suspended', LossRatio: 'Loss-ratio warning', OverdueRatio: 'Overdue-ratio warning',
    claim: 'Claim', loan: 'Loan', bank: 'Bank', filed: 'Filed', docs_complete: 'Documents complete', decision_due: 'Decision due', decided: 'Decided', payment_due: 'Payment due', paid: 'Paid',
    late: 'Paid late', overdue: 'Overdue (惜赔/拖赔)', loss: 'Loss', bank_retained: 'Bank retained', insurer_gross: 'Insurer gross', insurer_pays_bank: 'Insurer pays bank', fund_part: 'Fund', fund_shortfall: 'Fund shortfall (to insurer)',
    reinsurer_part: 'Reinsurer', insurer_retained: 'Insurer retained', recovered: 'Recovered', claim_split: 'Loss split', claim_dates: 'Service levels', claim_events: 'History',
    Filed: 'Filed', AwaitingDocuments: 'Awaiting documents', Approved: 'Approved', Paid: 'Paid',
    open_claims: 'Open', overdue_claims: 'Overdue', late_claims: 'Paid late', all_claims: 'All', per_insurer: 'Per insurer', yes: 'yes', no: 'no',
    filing_ref: 'Filing ref', rates: 'Rates', policies_issued: 'Policies issued under it', valid: 'Valid', in_force: 'in force', expired: 'not in force',
    premiums_written: 'Premiums written', premiums_on_loans: 'Premiums on loans', subsidies: 'Subsidies paid', claims_paid: 'Claims paid', claims_received: 'Claims received', fund_compensation: 'Fund compensation', reinsurance: 'Reinsurance', losses_retained: 'Losses retained', recoveries: 'Recoveries',
    changes: 'Changes', changes_validators: 'Changes validators', first_vote: 'First vote', second_vote: 'Second vote', validator: 'Validator', none: 'none',
    record: 'Record', flagged: 'Flagged', enterprise: 'Enterprise', policy: 'Policy', principal: 'Principal', term: 'Term (months)', issued: 'Issued', premium: 'Premium', subsidy: 'Subsidy', insured: 'Insured amount',
    attestation: 'Attestation', attestations: 'Attestations', eligibility: 'Eligibility', grades: 'Grades', issuers: 'Issuers', grade: 'Grade', issuer: 'Issuer',
    valid_from: 'Valid from', valid_to: 'Valid to', qualified_by: 'Attestations that qualified it on its issue date', no_eligibility: 'No eligibility conditions',
    crypto_suite: 'Crypto suite', protocol_version: 'Protocol version', next_version: 'Next height\'s version', supported_versions: 'This node runs', pending_upgrade: 'Pending upgrade', eras: 'Protocol eras',
    version: 'Version', activation_height: 'Activation height', first_height: 'From height', scheduled_height: 'Scheduled at', scheduled_by: 'Scheduled by', from_height: 'from height {h}',
    error: 'Something went wrong', live: 'Live', connected: 'connected', reconnecting: 'reconnecting',
    footer: 'Read-only console: the data come from this node, which keeps no private key here.',
  },
};

let lang = (localStorage.getItem('xinbao.lang') === 'en') ? 'en' : 'zh';
function t(key, vars) {
  let s = (I18N[lang][key] !== undefined) ? I18N[lang][key] : key;
  if (vars) for (const k of Object.keys(vars)) s = s.replace('{' + k + '}', String(vars[k]));
  return s;
}

// ---- DOM helpers: elements built with text nodes only.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}
const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
  append(el, children);
  return el;
}

// ---- Formatting: fen as yuan, bps as percent, dates and hashes.
function yuan(fen) {
  if (fen === null || fen === undefined) return '—';
  const neg = fen < 0; let n = Math.abs(Math.round(fen));
  const whole = Math.floor(n / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cents = (n % 100).toString().padStart(2, '0');
  return (neg ? '-' : '') + '¥' + whole + '.' + cents;
}
function pct(bps) { return (bps === null || bps === undefined) ? '—' : (bps / 100).toFixed(2) + '%'; }
function when(ms) {
  if (!ms) return '—';
  // The rulebook's dates are in UTC+8 (DOMAIN.md R1).
  const d = new Date(ms + 8 * 3600 * 1000);
  return d.toISOString().replace('T', ' ').slice(0, 19) + ' +08';
}
function short(hex) { return hex ? hex.slice(0, 10) + '…' + hex.slice(-6) : '—'; }
function yn(b) { return b ? t('yes') : t('no'); }
function link(href, text, attrs) { return h('a', Object.assign({ href }, attrs || {}), text); }
function table(headers, rows, attrs) {
  return h('table', attrs || {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { class: x.num ? 'num' : null }, x.label || x)))),
    h('tbody', {}, rows));
}
function td(x, cls) { return h('td', { class: cls || null }, x); }
function card(label, value, attrs) {
  return h('div', Object.assign({ class: 'card' }, attrs || {}), h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
}
function statusTag(status) {
  const cls = (status === 'Suspended' || status === 'Rejected') ? 'tag bad' : 'tag';
  return h('span', { class: cls, 'data-status': status }, t(status));
}

// ---- The API.
class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}
async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  let body = null;
  try { body = await res.json(); } catch (_) { body = null; }
  if (!res.ok) {
    const err = body && body.error ? body.error : { code: String(res.status), message: res.statusText };
    throw new ApiError(res.status, err.code, err.message);
  }
  return body;
}

// ---- Pages.
const main = () => document.getElementById('main');
let pageCleanup = null;

function render(...nodes) {
  const m = main();
  m.replaceChildren();
  append(m, nodes);
}

async function networkPage() {
  const [status, vals, blocks] = await Promise.all([
    api('/v1/status'), api('/v1/validators?window=20'), api('/v1/blocks?limit=20'),
  ]);
  const list = blocks.blocks;
  let rate = '—';
  if (list.length > 1) {
    const span = list[0].time_ms - list[list.length - 1].time_ms;
    if (span > 0) rate = ((list.length - 1) * 60000 / span).toFixed(2);
  }
  const rows = vals.validators.map((v) => h('tr', { 'data-test': 'validator', 'data-org': v.org },
    td(v.org), td(h('span', { class: 'mono', title: v.consensus_key }, short(v.consensus_key))),
    td(v.voting_power, 'num'), td(v.last_signed === null ? '—' : link('#/block/' + v.last_signed, v.last_signed), 'num'),
    td(v.signed, 'num'), td(v.proposed, 'num'), td(h('span', { class: v.missed ? 'warn' : '' }, v.missed), 'num')));
  render(
    h('h1', {}, t('network')),
    h('div', { class: 'cards' },
      card(t('chain_id'), status.chain_id),
      card(t('crypto_suite'), status.crypto_suite === 'sm2-sm3' ? 'SM2 / SM3' : 'ed25519 / BLAKE3', { 'data-test': 'crypto-suite', title: status.crypto_suite }),
      card(t('height'), link('#/block/' + status.height, status.height), { 'data-test': 'height' }),
      card(t('block_rate'), rate),
      card(t('mempool'), status.mempool_txs),
      card(t('peers'), status.peers.length),
      card(t('protocol_version'), String(status.protocol_version), { 'data-test': 'protocol-version' }),
      card(t('supported_versions'), status.supported_versions.join(', ')),
      status.pending_upgrade ? card(t('pending_upgrade'), 'v' + status.pending_upgrade.version + ' · ' + t('from_height', { h: status.pending_upgrade.activation_height }), { 'data-test': 'pending-upgrade' }) : null),
    h('h2', {}, t('validators'), ' ', h('small', {}, t('window_note', { n: vals.window, from: vals.from_height, to: vals.height }))),
    table([t('org'), t('key'), { label: t('voting_power'), num: true }, { label: t('last_signed'), num: true },
      { label: t('signed'), num: true }, { label: t('proposed'), num: true }, { label: t('missed'), num: true }], rows, { id: 'validators' }),
    h('p', { class: 'note' }, t('signed_note')),
    h('h2', {}, t('peers')),
    h('ul', {}, status.peers.map((p) => h('li', { class: 'mono' }, p))));
}

// Signing power out of the total, where the block's validator set is the latest one.
function power(b) { return b.total_power === null ? '—' : b.signing_power + '/' + b.total_power; }

function blockRow(b) {
  return h('tr', { 'data-test': 'block-row', 'data-height': b.height },
    td(link('#/block/' + b.height, b.height), 'num'), td(when(b.time_ms)), td(b.txs, 'num'),
    td(h('span', { class: b.rejected ? 'warn' : '' }, b.rejected), 'num'), td(b.proposer_org || short(b.proposer)),
    td(b.signers, 'num'), td(power(b), 'num'), td(b.protocol_version, 'num'),
    td(h('span', { class: 'mono' }, short(b.block_id))));
}
const blockHeaders = () => [{ label: t('height'), num: true }, t('time'), { label: t('txs'), num: true }, { label: t('rejected'), num: true },
  t('proposer'), { label: t('signers'), num: true }, { label: t('power'), num: true }, { label: t('version'), num: true }, 'id'];

async function blocksPage(params) {
  const before = params.get('before');
  const data = await api('/v1/blocks?limit=25' + (before ? '&before=' + encodeURIComponent(before) : ''));
  const feedBody = h('tbody', { id: 'feed' });
  const liveState = h('span', { id: 'live-state', class: 'tag' }, t('reconnecting'));
  render(
    h('h1', {}, t('blocks')),
    h('h2', {}, t('live_feed'), ' ', liveState),
    h('table', {}, h('thead', {}, h('tr', {}, blockHeaders().map((x) => h('th', { class: x.num ? 'num' : null }, x.label || x)))), feedBody),
    h('h2', {}, t('recent_blocks')),
    table(blockHeaders(), data.blocks.map(blockRow), { id: 'blocks' }),
    data.next_before ? h('div', { class: 'pager' }, link('#/blocks?before=' + data.next_before, t('older') + ' →')) : null);
  const source = new EventSource('/v1/events?type=block');
  source.addEventListener('open', () => { liveState.textContent = t('connected'); });
  source.addEventListener('error', () => { liveState.textContent = t('reconnecting'); });
  source.addEventListener('block', (e) => {
    const b = JSON.parse(e.data);
    feedBody.insertBefore(blockRow(b), feedBody.firstChild);
    while (feedBody.children.length > 50) feedBody.removeChild(feedBody.lastChild);
  });
  pageCleanup = () => source.close();
}

async function blockPage(height) {
  const b = await api('/v1/blocks/' + encodeURIComponent(height));
  const hd = b.header;
  const headerRows = ['chain_id', 'height', 'protocol_version', 'time_ms', 'previous', 'tx_root', 'receipts_root', 'state_root', 'validator_set_hash', 'proposer']
    .map((k) => h('tr', {}, h('th', {}, k), td(k === 'time_ms' ? when(hd[k]) : h('span', { class: 'mono' }, String(hd[k])))));
  const sigRows = b.signed_by.map((sg) => h('tr', { 'data-test': 'signer', 'data-org': sg.org || '' },
    td(sg.org || '—'), td(h('span', { class: 'mono' }, sg.validator)), td(sg.voting_power === null ? '—' : sg.voting_power, 'num')));
  const txRows = b.transactions.map((x) => h('tr', { 'data-test': 'block-tx' },
    td(x.index, 'num'), td(link('#/tx/' + x.tx_id, short(x.tx_id), { class: 'mono' })), td(x.type),
    td(h('span', { class: x.outcome === 'Rejected' ? 'bad' : 'good' }, t(x.outcome))),
    td(x.code ? x.code : ''), td(x.code ? x.meaning : '')));
  render(
    h('h1', {}, t('block'), ' ', b.height),
    h('div', { class: 'cards' }, card(t('time'), when(b.time_ms)), card(t('proposer'), b.proposer_org || short(b.proposer)),
      card(t('txs'), b.txs), card(t('power'), power(b)),
      card(t('protocol_version'), String(hd.protocol_version), { 'data-test': 'block-version' })),
    h('div', { class: 'pager' }, b.height > 1 ? link('#/block/' + (b.height - 1), '← ' + (b.height - 1)) : null, ' ', link('#/block/' + (b.height + 1), (b.height + 1) + ' →')),
    h('h2', {}, t('header')), h('table', {}, h('tbody', {}, headerRows, h('tr', {}, h('th', {}, 'block_id'), td(h('span', { class: 'mono' }, b.block_id))))),
    h('h2', {}, t('certificate'), ' (', t('round'), ' ', String(b.round), ')'),
    table([t('org'), t('key'), { label: t('voting_power'), num: true }], sigRows, { id: 'signers' }),
    h('h2', {}, t('transactions')),
    table([{ label: t('index'), num: true }, 'id', t('type'), t('outcome'), t('code'), t('meaning')], txRows));
}

async function txPage(id) {
  const x = await api('/v1/tx/' + encodeURIComponent(id));
  if (x.status !== 'committed') {
    render(h('h1', {}, t('tx')), h('p', { class: 'mono' }, x.tx_id), h('p', {}, t('pending')));
    return;
  }
  const r = x.receipt;
  const sigRows = x.signatures.map((sg) => h('tr', { 'data-test': 'tx-signature' },
    td(sg.org || '—'), td(h('span', { class: 'mono' }, sg.public_key)), td(sg.revoked ? t('revoked') : '')));
  render(
    h('h1', {}, t('tx'), ' ', x.type),
    h('p', { class: 'mono' }, x.tx_id),
    h('div', { class: 'cards' },
      card(t('block'), link('#/block/' + x.height, x.height + ' #' + x.index)),
      card(t('time'), when(x.time_ms)),
      card(t('outcome'), h('span', { class: r.outcome === 'Rejected' ? 'bad' : 'good', id: 'tx-outcome' }, t(r.outcome)))),
    r.code ? h('p', { class: 'error-box', id: 'tx-code' }, r.code, ': ', r.meaning) : null,
    h('h2', {}, t('signatures')),
    table([t('org'), t('key'), ''], sigRows),
    h('h2', {}, t('tx_json')),
    h('pre', { id: 'tx-json' }, JSON.stringify(x.tx, null, 2)));
}

function routeOf(hit) {
  switch (hit.kind) {
    case 'tx': return '#/tx/' + hit.id;
    case 'block': return '#/block/' + hit.id;
    case 'programme': return '#/programme/' + encodeURIComponent(hit.id);
    case 'claim': return '#/claim/' + encodeURIComponent(hit.id);
    default: return '#/record/' + hit.kind + '/' + encodeURIComponent(hit.id);
  }
}

async function searchPage(q) {
  const res = await api('/v1/search?q=' + encodeURIComponent(q));
  if (res.results.length === 1) { location.replace(routeOf(res.results[0])); return; }
  if (res.results.length === 0) { render(h('h1', {}, t('results')), h('p', { id: 'no-results' }, t('no_results'), q)); return; }
  render(h('h1', {}, t('results')),
    table([t('kind'), 'id'], res.results.map((x) => h('tr', { 'data-test': 'search-hit' }, td(t(x.kind)), td(link(routeOf(x), x.id))))));
}

function lineChart(id, label, points, warn, suspend) {
  // points: [{label, bps}], thresholds in bps (0 = off).
  const W = 720, H = 220, L = 56, R = 16, T = 16, B = 36;
  const values = points.map((p) => p.bps).concat([warn || 0, suspend || 0, 100]);
  const max = Math.ceil(Math.max(...values) * 1.1 / 2000) * 2000;
  const x = (i) => L + (points.length <= 1 ? (W - L - R) / 2 : i * (W - L - R) / (points.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const g = s('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', class: 'chart', id, role: 'img', 'aria-label': label });
  for (let k = 0; k <= 4; k++) {
    const v = max * k / 4;
    g.appendChild(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#eef2f6' }));
    g.appendChild(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, pct(Math.round(v))));
  }
  const threshold = (v, color, name) => {
    if (!v) return;
    g.appendChild(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: color, 'stroke-dasharray': '6 4', 'data-threshold': name, 'data-bps': v }));
    g.appendChild(s('text', { x: W - R, y: y(v) - 4, 'text-anchor': 'end' }, t(name) + ' ' + pct(v)));
  };
  threshold(warn, '#c77700', 'warn_line');
  threshold(suspend, '#b71c1c', 'suspend_line');
  if (points.length) {
    g.appendChild(s('polyline', { fill: 'none', stroke: '#1565c0', 'stroke-width': 2, points: points.map((p, i) => `${x(i)},${y(p.bps)}`).join(' ') }));
    points.forEach((p, i) => {
      const last = i === points.length - 1;
      g.appendChild(s('circle', { cx: x(i), cy: y(p.bps), r: last ? 5 : 3, fill: '#1565c0', 'data-point': p.label, 'data-bps': p.bps, 'data-test': last ? 'last-point' : 'point' },
        s('title', {}, p.label + ': ' + pct(p.bps))));
      const every = Math.max(1, Math.ceil(points.length / 12));
      if ((i % every === 0 && points.length - 1 - i >= every) || last) g.appendChild(s('text', { x: x(i), y: H - B + 16, 'text-anchor': 'middle' }, p.label));
    });
  }
  return h('div', {}, h('h2', {}, label), g);
}

function programmeRow(p) {
  return h('tr', { 'data-test': 'programme-row' },
    td(link('#/programme/' + encodeURIComponent(p.id), p.id)), td(p.name), td(statusTag(p.status)),
    td(p.warnings.map((w) => h('span', { class: 'tag warn' }, t(w)))),
    td(yuan(p.premium_written_fen), 'num'), td(yuan(p.claims_gross_fen), 'num'),
    td(h('span', { class: p.thresholds.loss_ratio_suspend_bps && p.loss_ratio_bps >= p.thresholds.loss_ratio_warn_bps ? 'warn' : '' }, pct(p.loss_ratio_bps)), 'num'),
    td(pct(p.thresholds.loss_ratio_warn_bps) + ' / ' + pct(p.thresholds.loss_ratio_suspend_bps), 'num'),
    td(pct(p.overdue_ratio_bps), 'num'),
    td(p.fund_figures ? yuan(p.fund_figures.balance_fen) : '—', 'num'),
    td(p.fund_figures ? pct(p.fund_figures.cap_used_bps) : '—', 'num'));
}

async function programmesPage() {
  const data = await api('/v1/programmes?limit=200');
  render(h('h1', {}, t('programmes'), ' ', h('small', {}, t('date'), ' ', data.date)),
    table([t('programme'), '', t('status'), t('warnings'), { label: t('premium_written'), num: true }, { label: t('claims_gross'), num: true },
      { label: t('loss_ratio'), num: true }, { label: t('warn_line') + ' / ' + t('suspend_line'), num: true }, { label: t('overdue_ratio'), num: true },
      { label: t('fund_balance'), num: true }, { label: t('cap_used'), num: true }], data.items.map(programmeRow), { id: 'programmes' }));
}

async function programmePage(id) {
  const p = await api('/v1/programmes/' + encodeURIComponent(id));
  const points = (key) => p.months.map((m) => ({ label: m.as_of.slice(0, 7), bps: m[key] }))
    .concat([{ label: p.now.as_of, bps: p.now[key] }]);
  const f = p.fund_figures;
  const capBar = f ? s('svg', { viewBox: '0 0 300 14', width: 300, height: 14, id: 'cap-bar', 'data-bps': f.cap_used_bps },
    s('rect', { x: 0, y: 0, width: 300, height: 14, fill: '#eef2f6' }),
    s('rect', { x: 0, y: 0, width: Math.min(300, 300 * f.cap_used_bps / 10000), height: 14, fill: f.cap_used_bps >= 10000 ? '#b71c1c' : '#c77700' })) : null;
  render(
    h('h1', {}, t('programme'), ' ', p.id, ' ', statusTag(p.status)),
    h('p', {}, p.name, ' · ', t('product'), ' ', p.product, ' · ', t('period'), ' ', p.period_start, ' – ', p.period_end),
    h('div', { class: 'cards' },
      card(t('premium_written'), yuan(p.premium_written_fen)),
      card(t('claims_gross'), yuan(p.claims_gross_fen)),
      card(t('loss_ratio'), h('span', { id: 'loss-ratio' }, pct(p.loss_ratio_bps))),
      card(t('overdue_ratio'), pct(p.overdue_ratio_bps)),
      card(t('outstanding'), yuan(p.outstanding_principal_fen)),
      card(t('warnings'), p.warnings.length ? p.warnings.map((w) => h('span', { class: 'tag warn' }, t(w))) : t('none'))),
    lineChart('loss-ratio-chart', t('loss_ratio_chart'), points('loss_ratio_bps'), p.thresholds.loss_ratio_warn_bps, p.thresholds.loss_ratio_suspend_bps),
    lineChart('overdue-ratio-chart', t('overdue_ratio_chart'), points('overdue_ratio_bps'), p.thresholds.overdue_ratio_warn_bps, p.thresholds.overdue_ratio_suspend_bps),
    h('h2', {}, t('fund'), ' ', p.fund),
    f ? h('div', { class: 'cards' },
      card(t('fund_balance'), yuan(f.balance_fen)), card(t('annual_cap'), yuan(f.annual_cap_fen)),
      card(t('paid_this_year') + ' ' + f.year, yuan(f.paid_this_year_fen)),
      card(t('cap_used'), h('span', {}, pct(f.cap_used_bps), ' ', capBar)),
      card(t('subsidies_paid'), yuan(f.subsidies_paid_fen)), card(t('compensation_paid'), yuan(f.compensation_paid_fen))) : null,
    h('h2', {}, t('split')),
    h('p', {}, t('bank_share'), ' ', pct(p.split.bank_bps), ' · ', t('insurer_share'), ' ', pct(p.split.insurer_bps), ' · ', t('fund_share'), ' ', pct(p.split.fund_bps)),
    h('p', {}, t('government'), ': ', p.government, ' · ', t('insurer'), ': ', p.insurer, ' · ', t('banks'), ': ', p.banks.join(', '), ' · ', t('reinsurer'), ': ', p.reinsurer || t('none')),
    h('h2', {}, t('eligibility')),
    p.eligibility && p.eligibility.length
      ? table([t('kind'), t('grades'), t('issuers')], p.eligibility.map((e) => h('tr', { 'data-test': 'eligibility-row' },
        td(e.kind), td(e.grades.join(', ')), td(e.issuers.join(', ')))), { id: 'eligibility' })
      : h('p', {}, t('no_eligibility')),
    h('p', {}, link('#/claims?status=all&programme=' + encodeURIComponent(p.id), t('claims') + ' →')));
}

// R14: attestations as rows, each linked to its record.
function attestationRows(list) {
  return list.map((a) => h('tr', { 'data-test': 'attestation-row', 'data-id': a.id },
    td(link('#/record/attestation/' + encodeURIComponent(a.id), a.id)), td(a.kind), td(a.grade), td(a.issuer),
    td(a.valid_from), td(a.valid_to), td(a.revoked ? h('span', { class: 'bad' }, t('revoked') + (a.revoked_on ? ' ' + a.revoked_on : '')) : '')));
}
const attestationHeaders = () => ['id', t('kind'), t('grade'), t('issuer'), t('valid_from'), t('valid_to'), ''];

function claimRow(c) {
  // The next step's due date while the claim is open; none once paid or rejected.
  const due = { Filed: c.decision_due, AwaitingDocuments: c.decision_due, Approved: c.payment_due }[c.status];
  return h('tr', { 'data-test': 'claim-row', 'data-claim': c.id, class: c.overdue ? 'bad' : '' },
    td(link('#/claim/' + encodeURIComponent(c.id), c.id)), td(link('#/programme/' + encodeURIComponent(c.programme), c.programme)),
    td(c.insurer || '—'), td(c.bank), td(statusTag(c.status)), td(c.filed), td(c.decision_due || '—'), td(c.payment_due || '—'),
    td(c.overdue ? h('span', { class: 'tag bad' }, t('overdue')) : ''), td(c.late ? h('span', { class: 'tag warn' }, t('late')) : ''),
    td(yuan(c.loss_fen), 'num'), td(due || '—'));
}

async function claimsPage(params) {
  const status = params.get('status') || 'open';
  const insurer = params.get('insurer');
  const programme = params.get('programme');
  const offset = Number(params.get('offset') || 0);
  const q = new URLSearchParams({ status, limit: '200', offset: String(offset) });
  if (insurer) q.set('insurer', insurer);
  if (programme) q.set('programme', programme);
  const data = await api('/v1/claims?' + q.toString());
  const items = data.items;
  const scope = (insurer ? '&insurer=' + encodeURIComponent(insurer) : '') + (programme ? '&programme=' + encodeURIComponent(programme) : '');
  const filter = (st, key) => link('#/claims?status=' + st + scope, t(key), { class: st === status ? 'active' : null });
  render(
    h('h1', {}, t('claims'), ' ', h('small', {}, t('date'), ' ', data.date)),
    h('div', { class: 'filters' }, filter('open', 'open_claims'), filter('overdue', 'overdue_claims'), filter('late', 'late_claims'), filter('all', 'all_claims')),
    table([t('claim'), t('programme'), t('insurer'), t('bank'), t('status'), t('filed'), t('decision_due'), t('payment_due'), t('overdue'), t('late'), { label: t('loss'), num: true }, '→'],
      items.map(claimRow), { id: 'claims' }),
    h('div', { class: 'pager' }, t('shown'), ' ', String(data.offset + (items.length ? 1 : 0)), '–', String(data.offset + items.length), ' / ', String(data.total),
      data.offset + items.length < data.total ? [' ', link('#/claims?status=' + status + scope + '&offset=' + (data.offset + items.length), t('next_page') + ' →')] : null),
    h('h2', {}, t('per_insurer')),
    table([t('insurer'), { label: t('claims'), num: true }, { label: t('overdue'), num: true }, { label: t('late'), num: true }],
      data.per_insurer.map((x) => h('tr', {}, td(link('#/claims?status=' + status + '&insurer=' + encodeURIComponent(x.insurer), x.insurer)), td(x.claims, 'num'), td(x.overdue, 'num'), td(x.late, 'num')))));
}

function txList(txs) {
  return table([t('date'), t('block'), t('type'), t('outcome'), t('code'), 'id'],
    txs.items.map((x) => h('tr', { 'data-test': 'record-tx' }, td(x.date || '—'), td(link('#/block/' + x.height, x.height + ' #' + x.index)), td(x.type),
      td(h('span', { class: x.outcome === 'Rejected' ? 'bad' : 'good' }, t(x.outcome))), td(x.code ? x.code + ' — ' + x.meaning : ''),
      td(link('#/tx/' + x.tx_id, short(x.tx_id), { class: 'mono' })))));
}

async function claimPage(id) {
  const c = await api('/v1/claims/' + encodeURIComponent(id));
  const row = (key, value, attrs) => h('tr', attrs || {}, h('th', {}, t(key)), td(value, 'num'));
  render(
    h('h1', {}, t('claim'), ' ', c.id, ' ', statusTag(c.status)),
    h('p', {}, t('programme'), ' ', link('#/programme/' + encodeURIComponent(c.programme), c.programme), ' · ', t('loan'), ' ',
      link('#/record/loan/' + encodeURIComponent(c.loan), c.loan), ' · ', t('bank'), ' ', c.bank, ' · ', t('insurer'), ' ', c.insurer || '—'),
    h('h2', {}, t('claim_split')),
    h('table', { id: 'claim-split' }, h('tbody', {},
      row('loss', yuan(c.loss_fen), { 'data-field': 'loss_fen' }),
      row('bank_retained', yuan(c.bank_retained_fen), { 'data-field': 'bank_retained_fen' }),
      row('insurer_gross', yuan(c.insurer_gross_fen), { 'data-field': 'insurer_gross_fen' }),
      row('insurer_pays_bank', yuan(c.insurer_pays_bank_fen), { 'data-field': 'insurer_pays_bank_fen' }),
      row('fund_part', yuan(c.fund_fen), { 'data-field': 'fund_fen' }),
      row('fund_shortfall', yuan(c.fund_shortfall_fen), { 'data-field': 'fund_shortfall_fen' }),
      row('reinsurer_part', yuan(c.reinsurer_fen), { 'data-field': 'reinsurer_fen' }),
      row('insurer_retained', yuan(c.insurer_retained_fen), { 'data-field': 'insurer_retained_fen' }),
      row('recovered', yuan(c.recovered_fen), { 'data-field': 'recovered_fen' }))),
    h('h2', {}, t('claim_dates')),
    h('table', { id: 'claim-dates' }, h('tbody', {},
      row('filed', c.filed), row('docs_complete', c.documents_complete || '—'),
      row('decision_due', c.decision_due || '—', { 'data-field': 'decision_due' }), row('decided', c.decided || '—'),
      row('payment_due', c.payment_due || '—', { 'data-field': 'payment_due' }), row('paid', c.paid || '—'),
      row('late', h('span', { class: c.late ? 'bad' : '', id: 'claim-late', 'data-late': String(c.late) }, yn(c.late))),
      row('overdue', h('span', { class: c.overdue ? 'bad' : '' }, yn(c.overdue))))),
    h('h2', {}, t('claim_events')),
    txList(c.txs));
}

const filingRoute = (f) => '#/filing/' + [f.insurer, f.product, f.id].map(encodeURIComponent).join('/');

async function filingsPage() {
  const data = await api('/v1/filings?limit=200');
  render(h('h1', {}, t('filings'), ' ', h('small', {}, '报行合一 · ', t('date'), ' ', data.date)),
    table([t('insurer'), t('product'), t('filing_ref'), t('rates'), t('valid'), t('status'), { label: t('policies_issued'), num: true }],
      data.items.map((f) => h('tr', { 'data-test': 'filing-row', 'data-policies': f.policies }, td(f.insurer), td(f.product),
        td(link(filingRoute(f), f.filing_ref)), td(f.rates_bps.map(pct).join(', ')),
        td(f.valid_from + ' – ' + f.valid_to), td(h('span', { class: f.in_force ? 'good' : 'warn' }, f.in_force ? t('in_force') : t('expired'))),
        td(link(filingRoute(f), f.policies), 'num'))), { id: 'filings' }));
}

async function filingPage(insurer, product, id) {
  const f = await api('/v1/filings/' + [insurer, product, id].map(encodeURIComponent).join('/') + '?limit=200');
  render(h('h1', {}, t('filings'), ' ', f.filing_ref, ' ', h('span', { class: f.in_force ? 'tag' : 'tag warn' }, f.in_force ? t('in_force') : t('expired'))),
    h('p', {}, t('insurer'), ' ', f.insurer, ' · ', t('product'), ' ', f.product, ' · ', t('rates'), ' ', f.rates_bps.map(pct).join(', '), ' · ', t('valid'), ' ', f.valid_from, ' – ', f.valid_to),
    h('h2', {}, t('policies_issued'), ' (', String(f.issued.total), ')'),
    table([t('policy'), t('programme'), t('bank'), t('enterprise'), t('issued'), { label: t('rates'), num: true }, { label: t('premium'), num: true }, { label: t('principal'), num: true }],
      f.issued.items.map((p) => h('tr', { 'data-test': 'filing-policy' }, td(link('#/record/policy/' + encodeURIComponent(p.id), p.id)),
        td(link('#/programme/' + encodeURIComponent(p.programme), p.programme)), td(p.bank), td(p.enterprise), td(p.issued),
        td(pct(p.premium_rate_bps), 'num'), td(yuan(p.premium_fen), 'num'), td(yuan(p.loan_principal_fen), 'num')))));
}

async function orgsPage() {
  const data = await api('/v1/organisations?limit=200');
  const cols = ['premiums_written', 'premiums_on_loans', 'subsidies', 'claims_paid', 'claims_received', 'fund_compensation', 'reinsurance', 'losses_retained', 'recoveries'];
  const field = { subsidies: 'subsidies_paid_fen' };
  render(h('h1', {}, t('orgs')),
    table([t('org'), t('kind')].concat(cols.map((c) => ({ label: t(c), num: true }))),
      data.items.map((o) => h('tr', { 'data-test': 'org-row', 'data-org': o.id }, td(link('#/record/org/' + encodeURIComponent(o.id), o.id)), td(o.kind),
        cols.map((c) => td(yuan(o[field[c] || (c + '_fen')]), 'num')))), { id: 'orgs' }));
}

async function recordPage(kind, id) {
  const r = await api('/v1/records/' + encodeURIComponent(kind) + '/' + encodeURIComponent(id));
  const skip = new Set(['txs', 'id', 'record_kind', 'date', 'qualified_by']);
  let extra = null;
  if (kind === 'policy' && r.qualified_by && r.qualified_by.length) {
    extra = [h('h2', {}, t('qualified_by')), table(attestationHeaders(), attestationRows(r.qualified_by), { id: 'qualified-by' })];
  } else if (kind === 'enterprise' && r.attestations) {
    const list = await api('/v1/enterprises/' + encodeURIComponent(id) + '/attestations?limit=100');
    extra = [h('h2', {}, t('attestations'), ' (', String(list.total), ')'), table(attestationHeaders(), attestationRows(list.items), { id: 'attestations' })];
  }
  const rows = Object.keys(r).filter((k) => !skip.has(k)).map((k) => {
    let v = r[k];
    if (k.endsWith('_fen')) v = yuan(v);
    else if (k.endsWith('_bps')) v = pct(v);
    else if (v !== null && typeof v === 'object') v = JSON.stringify(v);
    return h('tr', {}, h('th', {}, k), td(v === null ? '—' : String(v)));
  });
  render(h('h1', {}, t(kind), ' ', r.id), h('table', {}, h('tbody', {}, rows)), extra, h('h2', {}, t('transactions')), txList(r.txs));
}

async function governancePage() {
  const data = await api('/v1/governance');
  const p = data.protocol;
  const txLink = (id) => id ? link('#/tx/' + id, short(id), { class: 'mono' }) : '—';
  const pending = p.pending
    ? table([t('version'), { label: t('activation_height'), num: true }, { label: t('scheduled_height'), num: true }, t('scheduled_by')],
      [h('tr', { 'data-test': 'pending-upgrade' }, td(p.pending.version, 'num'), td(p.pending.activation_height, 'num'),
        td(link('#/block/' + p.pending.scheduled_height, p.pending.scheduled_height), 'num'), td(txLink(p.pending.scheduled_by_tx)))])
    : h('p', {}, t('none'));
  const eras = p.eras.map((e) => h('tr', { 'data-test': 'era-row', 'data-version': e.version },
    td(e.version, 'num'), td(link('#/block/' + e.first_height, e.first_height), 'num'),
    td(e.scheduled_height === null ? '—' : link('#/block/' + e.scheduled_height, e.scheduled_height), 'num'), td(txLink(e.scheduled_by_tx))));
  const what = (c) => c.version === undefined ? c.type
    : c.type + ' v' + c.version + (c.activation_height === undefined ? '' : ' · ' + t('from_height', { h: c.activation_height }));
  render(h('h1', {}, t('governance')),
    h('div', { class: 'cards' },
      card(t('protocol_version'), String(p.version), { 'data-test': 'protocol-version' }),
      card(t('next_version'), String(p.next_version)),
      card(t('supported_versions'), p.supported_versions.join(', '))),
    h('h2', {}, t('pending_upgrade')), pending,
    h('h2', {}, t('eras')),
    table([{ label: t('version'), num: true }, { label: t('first_height'), num: true }, { label: t('scheduled_height'), num: true }, t('scheduled_by')], eras, { id: 'eras' }),
    h('h2', {}, t('changes')),
    table([t('block'), t('type'), t('changes_validators'), 'id'],
      data.changes.map((c) => h('tr', { 'data-test': 'change-row' }, td(link('#/block/' + c.height, c.height + ' #' + c.index)), td(what(c)), td(yn(c.changes_validators)),
        td(link('#/tx/' + c.tx_id, short(c.tx_id), { class: 'mono' }))))));
}

async function evidencePage() {
  const data = await api('/v1/evidence');
  const vote = (v) => h('span', { class: 'mono' }, v.kind + ' ', v.block_id ? short(v.block_id) : 'nil');
  render(h('h1', {}, t('evidence')),
    data.evidence.length === 0 ? h('p', { id: 'no-evidence' }, t('none')) :
      table([t('validator'), t('height'), t('round'), t('first_vote'), t('second_vote')],
        data.evidence.map((e) => h('tr', { 'data-test': 'evidence-row' }, td(h('span', { class: 'mono' }, short(e.first.voter))),
          td(e.first.height, 'num'), td(e.first.round, 'num'), td(vote(e.first)), td(vote(e.second))))));
}

// ---- Routing: #/page/arg?query
const NAV = ['network', 'blocks', 'programmes', 'claims', 'filings', 'orgs', 'governance', 'evidence'];

function drawChrome(active) {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t('brand') + ' · ' + t(active || 'network');
  const nav = document.getElementById('nav');
  nav.replaceChildren(...NAV.map((p) => link('#/' + p, t(p), { class: p === active ? 'active' : null, 'data-nav': p })));
  document.getElementById('search').setAttribute('placeholder', t('search_hint'));
  document.getElementById('lang').textContent = lang === 'zh' ? 'English' : '中文';
  document.querySelectorAll('[data-t]').forEach((el) => { el.textContent = t(el.getAttribute('data-t')); });
  document.getElementById('footer').textContent = t('footer');
}

async function route() {
  if (pageCleanup) { pageCleanup(); pageCleanup = null; }
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query] = hash.split('?');
  const parts = path.split('/').map(decodeURIComponent);
  const params = new URLSearchParams(query || '');
  const page = parts[0] || 'network';
  const active = { block: 'blocks', tx: 'blocks', programme: 'programmes', claim: 'claims', filing: 'filings', record: 'orgs', search: null }[page];
  drawChrome(active === undefined ? page : active);
  document.body.setAttribute('data-page', page);
  document.body.setAttribute('data-ready', 'false');
  try {
    switch (page) {
      case 'network': await networkPage(); break;
      case 'blocks': await blocksPage(params); break;
      case 'block': await blockPage(parts[1]); break;
      case 'tx': await txPage(parts[1]); break;
      case 'search': await searchPage(parts.slice(1).join('/')); break;
      case 'programmes': await programmesPage(); break;
      case 'programme': await programmePage(parts[1]); break;
      case 'claims': await claimsPage(params); break;
      case 'claim': await claimPage(parts[1]); break;
      case 'filings': await filingsPage(); break;
      case 'filing': await filingPage(parts[1], parts[2], parts[3]); break;
      case 'orgs': await orgsPage(); break;
      case 'record': await recordPage(parts[1], parts.slice(2).join('/')); break;
      case 'governance': await governancePage(); break;
      case 'evidence': await evidencePage(); break;
      default: render(h('p', { class: 'error-box' }, t('error'), ': ', hash));
    }
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    render(h('h1', {}, t('error')), h('p', { class: 'error-box', id: 'api-error', 'data-code': e.code }, e.code, ': ', e.message));
  } finally {
    document.body.setAttribute('data-ready', 'true');
  }
}

document.getElementById('search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = document.getElementById('search').value.trim();
  if (q) location.hash = '#/search/' + encodeURIComponent(q);
});
document.getElementById('lang').addEventListener('click', () => {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('xinbao.lang', lang);
  route();
});
window.addEventListener('hashchange', route);
route();
