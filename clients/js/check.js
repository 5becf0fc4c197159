#!/usr/bin/env node
// Drives a running ferrobill (or a Kill Bill: the script knows no difference) through Kill
// Bill's official JavaScript client, npm package `killbill` 0.24.0, used as its README shows:
// one Configuration (Basic auth, the tenant's key and secret through `killbill.apiKey`), the
// generated *Api classes on an axios instance with `followLocationHeaderInterceptor`, so a 201
// answers with the object its Location names. Every call checks the status and a key field of
// what the API returns. Exit status 1 lists every client method that failed.
//
// Operations ferrobill does not serve yet (issue 14's combo payments, chargebacks,
// notifyStateChanged, completing PENDING transactions, hosted payment pages, fixing a
// transaction's state, ...) are run only when the server's GET /swagger.json lists them, and
// printed as skipped otherwise: they light up when the server learns them.
//
//   node check.js [--url http://127.0.0.1:8080] [--user admin] [--password password] [--wait SECONDS]
//
// --wait: first wait up to that long for GET /1.0/healthcheck to answer (a server starting).
//
// It creates its own tenant, keys carry a run token, so it can run again and again against
// the same server. It pays through __EXTERNAL_PAYMENT__ only, which every Kill Bill has.
'use strict';

const killbill = require('killbill');
const globalAxios = require('axios');

// ---------------------------------------------------------------------------------------------
// Arguments and the client, as a Kill Bill user sets it up.

function option(name, fallback) {
    const index = process.argv.indexOf(`--${name}`);
    return index > 0 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}

const BASE = option('url', process.env.FERROBILL_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const USER = option('user', 'admin');
const PASSWORD = option('password', 'password');
const WAIT_SECONDS = Number(option('wait', '0'));
const BY = 'js-client-check';
const RUN = (Date.now().toString(36) + Math.random().toString(36).slice(2, 6)).slice(-8);
const API_KEY = `js-${RUN}`;
const API_SECRET = `js-secret-${RUN}`;

const axios = globalAxios.create({ timeout: 60000 });
axios.interceptors.response.use(killbill.followLocationHeaderInterceptor);
// Without the interceptor, for createTenant: Kill Bill's description gives that operation Basic
// auth only, so the client sends no tenant headers, and the interceptor's GET of the new
// tenant (which needs them, in Kill Bill as in ferrobill) would copy none and get a 401.
const plainAxios = globalAxios.create({ timeout: 60000 });

function configuration({ user = USER, password = PASSWORD, key = API_KEY, secret = API_SECRET } = {}) {
    return new killbill.Configuration({
        username: user,
        password,
        apiKey: killbill.apiKey(key, secret),
        basePath: BASE,
    });
}

function apis(config) {
    const make = (Api) => new Api(config, null, axios);
    return {
        account: make(killbill.AccountApi),
        admin: make(killbill.AdminApi),
        customField: make(killbill.CustomFieldApi),
        exportApi: make(killbill.ExportApi),
        nodesInfo: make(killbill.NodesInfoApi),
        payment: make(killbill.PaymentApi),
        gateway: make(killbill.PaymentGatewayApi),
        paymentMethod: make(killbill.PaymentMethodApi),
        transaction: make(killbill.PaymentTransactionApi),
        pluginInfo: make(killbill.PluginInfoApi),
        security: make(killbill.SecurityApi),
        tag: make(killbill.TagApi),
        tagDefinition: make(killbill.TagDefinitionApi),
        tenant: make(killbill.TenantApi),
    };
}

const kb = apis(configuration());

// ---------------------------------------------------------------------------------------------
// Recording: a method passes when every check of it passed.

const outcomes = new Map(); // 'AccountApi.createAccount' -> { failures: [], checks: n }
const skipped = new Map(); // method -> reason

function outcome(method) {
    if (!outcomes.has(method)) outcomes.set(method, { failures: [], checks: 0 });
    return outcomes.get(method);
}

function describe(error) {
    if (error && error.response) {
        const { status, data } = error.response;
        const body = typeof data === 'string' ? data : JSON.stringify(data);
        return `HTTP ${status} ${error.config ? `${error.config.method.toUpperCase()} ${error.config.url}` : ''}: ${String(body).slice(0, 400)}`;
    }
    return error && error.message ? error.message : String(error);
}

/** Runs one check of `method`; returns what `body` returns, or undefined when it failed. */
async function check(method, what, body) {
    const record = outcome(method);
    record.checks += 1;
    try {
        return await body();
    } catch (error) {
        record.failures.push(`${what}: ${describe(error)}`);
        return undefined;
    }
}

class Mismatch extends Error {}

function expect(condition, message) {
    if (!condition) throw new Mismatch(message);
}

function expectStatus(response, status) {
    const body = typeof response.data === 'string' ? response.data : JSON.stringify(response.data);
    expect(response.status === status,
        `status ${response.status}, expected ${status}: ${String(body).slice(0, 300)}`);
}

function expectEqual(actual, expected, what) {
    expect(actual === expected, `${what} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

function expectArray(data, what) {
    expect(Array.isArray(data), `${what} is not an array: ${JSON.stringify(data).slice(0, 200)}`);
}

/** Needs a value an earlier check produced; fails this check when that one failed. */
function need(value, what) {
    if (value === undefined || value === null) throw new Mismatch(`not run: ${what} was not obtained`);
    return value;
}

/** Expects the call to be refused with `status`, and Kill Bill's error JSON naming `className`. */
async function expectRefused(call, status, className) {
    try {
        const response = await call();
        throw new Mismatch(`answered ${response.status}, expected a ${status} refusal`);
    } catch (error) {
        if (error instanceof Mismatch || !error.response) throw error;
        expectEqual(error.response.status, status, 'the refusal status');
        if (className) {
            expectEqual(error.response.data && error.response.data.className, className, 'the refusal className');
        }
    }
}

function paginationTotal(response) {
    const total = response.headers['x-killbill-pagination-maxnbrecords'];
    expect(total !== undefined, 'no X-Killbill-Pagination-MaxNbRecords header');
    return Number(total);
}

function findTransaction(payment, predicate, what) {
    const found = (payment.transactions || []).find(predicate);
    expect(found, `no ${what} among the payment's transactions: ${JSON.stringify(payment.transactions)}`);
    return found;
}

// ---------------------------------------------------------------------------------------------
// What the server serves: the operations GET /swagger.json lists.

async function servedOperations() {
    const response = await globalAxios.get(`${BASE}/swagger.json`, { timeout: 30000 });
    const served = new Set();
    for (const [path, item] of Object.entries(response.data.paths || {})) {
        for (const method of Object.keys(item)) served.add(`${method.toUpperCase()} ${path}`);
    }
    return served;
}

// ---------------------------------------------------------------------------------------------
// The checks, in the order a payment integration meets them.

const S = {}; // what earlier checks produced: ids and keys

async function tenants() {
    const tenant = await check('TenantApi.createTenant', 'create the tenant', async () => {
        const tenantApi = new killbill.TenantApi(configuration(), null, plainAxios);
        const r = await tenantApi.createTenant({ apiKey: API_KEY, apiSecret: API_SECRET }, BY);
        expectStatus(r, 201);
        const location = r.headers.location;
        expect(location && location.startsWith(`${BASE}/1.0/kb/tenants/`), `Location ${location}`);
        const read = await kb.tenant.getTenant(location.split('/').pop());
        expectEqual(read.data.apiKey, API_KEY, 'apiKey');
        return read.data;
    });
    if (!tenant) throw new Error(`cannot go on without a tenant (${describe(outcome('TenantApi.createTenant').failures[0])})`);
    S.tenantId = tenant.tenantId;
    await check('TenantApi.getTenant', 'by id', async () => {
        const r = await kb.tenant.getTenant(S.tenantId);
        expectStatus(r, 200);
        expectEqual(r.data.apiKey, API_KEY, 'apiKey');
    });
    await check('TenantApi.getTenantByApiKey', 'by api key', async () => {
        const r = await kb.tenant.getTenantByApiKey(API_KEY);
        expectStatus(r, 200);
        expectEqual(r.data.tenantId, S.tenantId, 'tenantId');
    });
}

async function accounts() {
    S.accountKey = `js-acct-${RUN}`;
    const account = await check('AccountApi.createAccount', 'create', async () => {
        const r = await kb.account.createAccount(
            { name: 'JS client', externalKey: S.accountKey, currency: 'USD', email: `js-${RUN}@example.com` }, BY);
        expectStatus(r, 201);
        expectEqual(r.data.externalKey, S.accountKey, 'externalKey');
        return r.data;
    });
    S.accountId = account && account.accountId;
    await check('AccountApi.getAccount', 'by id', async () => {
        const r = await kb.account.getAccount(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        expectEqual(r.data.externalKey, S.accountKey, 'externalKey');
    });
    await check('AccountApi.getAccountByKey', 'by external key', async () => {
        const r = await kb.account.getAccountByKey(S.accountKey);
        expectStatus(r, 200);
        expectEqual(r.data.accountId, need(S.accountId, 'the account'), 'accountId');
    });
    await check('AccountApi.updateAccount', 'rename', async () => {
        const r = await kb.account.updateAccount({ name: 'JS client, renamed' }, need(S.accountId, 'the account'), BY);
        expectStatus(r, 204);
        const after = await kb.account.getAccount(S.accountId);
        expectEqual(after.data.name, 'JS client, renamed', 'name after the update');
    });
    await check('AccountApi.getAccounts', 'a page', async () => {
        const r = await kb.account.getAccounts(0, 100);
        expectStatus(r, 200);
        expectArray(r.data, 'the page');
        expect(paginationTotal(r) >= 1, 'MaxNbRecords is 0');
    });
    await check('AccountApi.searchAccounts', 'by external key', async () => {
        const r = await kb.account.searchAccounts(S.accountKey);
        expectStatus(r, 200);
        expect(r.data.some((a) => a.accountId === S.accountId), 'the account is not found');
    });

    // Children.
    const child = await check('AccountApi.createAccount', 'create a child', async () => {
        const r = await kb.account.createAccount({
            name: 'JS child', externalKey: `js-child-${RUN}`, currency: 'USD',
            parentAccountId: need(S.accountId, 'the parent account'), isPaymentDelegatedToParent: true,
        }, BY);
        expectStatus(r, 201);
        expectEqual(r.data.parentAccountId, S.accountId, 'parentAccountId');
        return r.data;
    });
    await check('AccountApi.getChildrenAccounts', 'the parent\'s children', async () => {
        const r = await kb.account.getChildrenAccounts(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        expectArray(r.data, 'the children');
        expect(r.data.some((a) => a.accountId === need(child, 'the child').accountId), 'the child is not listed');
    });

    // Emails.
    S.email = `js-second-${RUN}@example.com`;
    await check('AccountApi.addEmail', 'add', async () => {
        const r = await kb.account.addEmail({ accountId: need(S.accountId, 'the account'), email: S.email }, S.accountId, BY);
        expectStatus(r, 201);
        expectArray(r.data, 'the followed Location (the emails)');
        expect(r.data.some((e) => e.email === S.email), 'the new email is not listed');
    });
    await check('AccountApi.getEmails', 'list', async () => {
        const r = await kb.account.getEmails(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        expect(r.data.some((e) => e.email === S.email && e.accountId === S.accountId), 'the email is not listed');
    });
    await check('AccountApi.removeEmail', 'remove', async () => {
        const r = await kb.account.removeEmail(need(S.accountId, 'the account'), S.email, BY);
        expectStatus(r, 204);
        const after = await kb.account.getEmails(S.accountId);
        expect(!after.data.some((e) => e.email === S.email), 'the email is still listed');
    });

    // Custom fields.
    S.fieldName = `js_field_${RUN}`;
    const fields = await check('AccountApi.createAccountCustomFields', 'add', async () => {
        const r = await kb.account.createAccountCustomFields(
            [{ name: S.fieldName, value: 'one' }], need(S.accountId, 'the account'), BY);
        expectStatus(r, 201);
        expectArray(r.data, 'the followed Location (the fields)');
        const field = r.data.find((f) => f.name === S.fieldName);
        expect(field, 'the new field is not listed');
        expectEqual(field.objectType, 'ACCOUNT', 'objectType');
        return r.data;
    });
    S.accountFieldId = fields && fields.find((f) => f.name === S.fieldName).customFieldId;
    await check('AccountApi.getAccountCustomFields', 'list', async () => {
        const r = await kb.account.getAccountCustomFields(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        expect(r.data.some((f) => f.customFieldId === need(S.accountFieldId, 'the field')), 'the field is not listed');
    });
    await check('AccountApi.modifyAccountCustomFields', 'change the value', async () => {
        const r = await kb.account.modifyAccountCustomFields(
            [{ customFieldId: need(S.accountFieldId, 'the field'), value: 'two' }], S.accountId, BY);
        expectStatus(r, 204);
        const after = await kb.account.getAccountCustomFields(S.accountId);
        expectEqual(after.data.find((f) => f.customFieldId === S.accountFieldId).value, 'two', 'the value');
    });
    await check('CustomFieldApi.getCustomFieldAuditLogsWithHistory', 'the field\'s history', async () => {
        const r = await kb.customField.getCustomFieldAuditLogsWithHistory(need(S.accountFieldId, 'the field'));
        expectStatus(r, 200);
        expect(r.data.length >= 2, `${r.data.length} audit logs, expected the insert and the update`);
        expectEqual(r.data[0].changeType, 'INSERT', 'the first changeType');
        expect(r.data[0].history && r.data[0].history.fieldName === S.fieldName, 'no history with the field name');
    });

    // Tag definitions and tags.
    S.tagName = `js_${RUN}`;
    const definition = await check('TagDefinitionApi.createTagDefinition', 'create', async () => {
        const r = await kb.tagDefinition.createTagDefinition({
            name: S.tagName, description: 'JS client check',
            applicableObjectTypes: ['ACCOUNT', 'PAYMENT', 'TRANSACTION'],
        }, BY);
        expectStatus(r, 201);
        expectEqual(r.data.name, S.tagName, 'name');
        return r.data;
    });
    S.tagDefinitionId = definition && definition.id;
    await check('TagDefinitionApi.getTagDefinition', 'by id', async () => {
        const r = await kb.tagDefinition.getTagDefinition(need(S.tagDefinitionId, 'the tag definition'));
        expectStatus(r, 200);
        expectEqual(r.data.name, S.tagName, 'name');
    });
    await check('TagDefinitionApi.getTagDefinitions', 'list', async () => {
        const r = await kb.tagDefinition.getTagDefinitions();
        expectStatus(r, 200);
        expect(r.data.some((d) => d.id === S.tagDefinitionId), 'the definition is not listed');
        expect(r.data.some((d) => d.name === 'AUTO_PAY_OFF'), 'the fixed definitions are not listed');
    });
    await check('TagDefinitionApi.getTagDefinitionAuditLogsWithHistory', 'history', async () => {
        const r = await kb.tagDefinition.getTagDefinitionAuditLogsWithHistory(need(S.tagDefinitionId, 'the tag definition'));
        expectStatus(r, 200);
        expect(r.data.length >= 1 && r.data[0].changeType === 'INSERT', 'no INSERT audit log');
    });
    const tags = await check('AccountApi.createAccountTags', 'tag the account', async () => {
        const r = await kb.account.createAccountTags([need(S.tagDefinitionId, 'the tag definition')], need(S.accountId, 'the account'), BY);
        expectStatus(r, 201);
        expectArray(r.data, 'the followed Location (the tags)');
        const tag = r.data.find((t) => t.tagDefinitionId === S.tagDefinitionId);
        expect(tag, 'the tag is not listed');
        expectEqual(tag.objectType, 'ACCOUNT', 'objectType');
        return r.data;
    });
    S.accountTagId = tags && tags.find((t) => t.tagDefinitionId === S.tagDefinitionId).tagId;
    await check('AccountApi.getAccountTags', 'list', async () => {
        const r = await kb.account.getAccountTags(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        expect(r.data.some((t) => t.tagId === need(S.accountTagId, 'the tag') && t.tagDefinitionName === S.tagName),
            'the tag is not listed');
    });
    await check('TagApi.getTagAuditLogsWithHistory', 'the tag\'s history', async () => {
        const r = await kb.tag.getTagAuditLogsWithHistory(need(S.accountTagId, 'the tag'));
        expectStatus(r, 200);
        expect(r.data.length >= 1 && r.data[0].changeType === 'INSERT', 'no INSERT audit log');
    });
}

async function paymentMethods() {
    S.methodKey = `js-pm-${RUN}`;
    const method = await check('AccountApi.createPaymentMethod', 'add the default method', async () => {
        const r = await kb.account.createPaymentMethod(
            { pluginName: '__EXTERNAL_PAYMENT__', externalKey: S.methodKey }, need(S.accountId, 'the account'), BY, true);
        expectStatus(r, 201);
        expectEqual(r.data.externalKey, S.methodKey, 'externalKey');
        expectEqual(r.data.isDefault, true, 'isDefault');
        return r.data;
    });
    S.methodId = method && method.paymentMethodId;
    await check('PaymentMethodApi.getPaymentMethod', 'by id', async () => {
        const r = await kb.paymentMethod.getPaymentMethod(need(S.methodId, 'the method'));
        expectStatus(r, 200);
        expectEqual(r.data.accountId, S.accountId, 'accountId');
    });
    await check('PaymentMethodApi.getPaymentMethodByKey', 'by external key', async () => {
        const r = await kb.paymentMethod.getPaymentMethodByKey(S.methodKey);
        expectStatus(r, 200);
        expectEqual(r.data.paymentMethodId, need(S.methodId, 'the method'), 'paymentMethodId');
    });
    await check('AccountApi.getPaymentMethodsForAccount', 'list', async () => {
        const r = await kb.account.getPaymentMethodsForAccount(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        expect(r.data.some((m) => m.paymentMethodId === need(S.methodId, 'the method')), 'the method is not listed');
    });
    await check('AccountApi.setDefaultPaymentMethod', 'set the default again', async () => {
        const r = await kb.account.setDefaultPaymentMethod(need(S.accountId, 'the account'), need(S.methodId, 'the method'), BY);
        expectStatus(r, 204);
    });
    await check('PaymentMethodApi.getPaymentMethods', 'a page', async () => {
        const r = await kb.paymentMethod.getPaymentMethods(0, 100);
        expectStatus(r, 200);
        expect(r.data.some((m) => m.paymentMethodId === need(S.methodId, 'the method')), 'the method is not on the page');
        expect(paginationTotal(r) >= 1, 'MaxNbRecords is 0');
    });
    await check('PaymentMethodApi.searchPaymentMethods', 'by external key', async () => {
        const r = await kb.paymentMethod.searchPaymentMethods(S.methodKey);
        expectStatus(r, 200);
        expect(r.data.some((m) => m.paymentMethodId === need(S.methodId, 'the method')), 'the method is not found');
    });
    await check('PaymentMethodApi.getPaymentMethodAuditLogsWithHistory', 'history', async () => {
        const r = await kb.paymentMethod.getPaymentMethodAuditLogsWithHistory(need(S.methodId, 'the method'));
        expectStatus(r, 200);
        expect(r.data.length >= 1 && r.data[0].changeType === 'INSERT', 'no INSERT audit log');
    });
    await customFieldsOn('PaymentMethodApi', 'PaymentMethod', kb.paymentMethod, () => need(S.methodId, 'the method'), 'PAYMENT_METHOD');

    // Refresh, on an account of its own: __EXTERNAL_PAYMENT__ holds no methods, so refreshing
    // from it removes the account's external method, in Kill Bill as in ferrobill.
    const other = await check('AccountApi.createAccount', 'create an account to refresh', async () => {
        const r = await kb.account.createAccount({ name: 'JS refresh', externalKey: `js-refresh-${RUN}`, currency: 'USD' }, BY);
        expectStatus(r, 201);
        return r.data.accountId;
    });
    const otherMethod = await check('AccountApi.createPaymentMethod', 'add a method to refresh', async () => {
        const r = await kb.account.createPaymentMethod({ pluginName: '__EXTERNAL_PAYMENT__' }, need(other, 'the account'), BY, true);
        expectStatus(r, 201);
        return r.data.paymentMethodId;
    });
    await check('AccountApi.refreshPaymentMethods', 'refresh from __EXTERNAL_PAYMENT__', async () => {
        const r = await kb.account.refreshPaymentMethods(need(other, 'the account'), BY, '__EXTERNAL_PAYMENT__');
        expectStatus(r, 204);
        const after = await kb.account.getPaymentMethodsForAccount(other);
        expect(!after.data.some((m) => m.paymentMethodId === otherMethod), 'the external method is still listed');
    });
    // A second method, deleted.
    const spare = await check('AccountApi.createPaymentMethod', 'add a second method', async () => {
        const r = await kb.account.createPaymentMethod({ pluginName: '__EXTERNAL_PAYMENT__' }, need(other, 'the account'), BY, false);
        expectStatus(r, 201);
        return r.data.paymentMethodId;
    });
    await check('PaymentMethodApi.deletePaymentMethod', 'delete', async () => {
        const r = await kb.paymentMethod.deletePaymentMethod(need(spare, 'the method'), BY, false, true);
        expectStatus(r, 204);
        const after = await kb.paymentMethod.getPaymentMethod(spare, true);
        expectEqual(after.data.paymentMethodId, spare, 'the deleted method read with includedDeleted');
    });
}

/** Add, list, change and delete a custom field through one API's four methods. */
async function customFieldsOn(apiName, noun, api, objectId, objectType) {
    const name = `js_${noun.toLowerCase()}_${RUN}`;
    const created = await check(`${apiName}.create${noun}CustomFields`, 'add', async () => {
        const r = await api[`create${noun}CustomFields`]([{ name, value: 'one' }], objectId(), BY);
        expectStatus(r, 201);
        const field = r.data.find((f) => f.name === name);
        expect(field, 'the new field is not listed');
        expectEqual(field.objectType, objectType, 'objectType');
        return field.customFieldId;
    });
    await check(`${apiName}.get${noun}CustomFields`, 'list', async () => {
        const r = await api[`get${noun}CustomFields`](objectId());
        expectStatus(r, 200);
        expect(r.data.some((f) => f.customFieldId === need(created, 'the field')), 'the field is not listed');
    });
    await check(`${apiName}.modify${noun}CustomFields`, 'change the value', async () => {
        const r = await api[`modify${noun}CustomFields`]([{ customFieldId: need(created, 'the field'), value: 'two' }], objectId(), BY);
        expectStatus(r, 204);
        const after = await api[`get${noun}CustomFields`](objectId());
        expectEqual(after.data.find((f) => f.customFieldId === created).value, 'two', 'the value');
    });
    await check(`${apiName}.delete${noun}CustomFields`, 'delete', async () => {
        const r = await api[`delete${noun}CustomFields`](objectId(), BY, [need(created, 'the field')]);
        expectStatus(r, 204);
        const after = await api[`get${noun}CustomFields`](objectId());
        expect(!after.data.some((f) => f.customFieldId === created), 'the field is still listed');
    });
    return created;
}

/** Tag, list and untag through one API's three methods. */
async function tagsOn(apiName, noun, api, objectId, objectType) {
    await check(`${apiName}.create${noun}Tags`, 'tag', async () => {
        const r = await api[`create${noun}Tags`]([need(S.tagDefinitionId, 'the tag definition')], objectId(), BY);
        expectStatus(r, 201);
        const tag = r.data.find((t) => t.tagDefinitionId === S.tagDefinitionId);
        expect(tag, 'the tag is not listed');
        expectEqual(tag.objectType, objectType, 'objectType');
    });
    await check(`${apiName}.get${noun}Tags`, 'list', async () => {
        const r = await api[`get${noun}Tags`](objectId());
        expectStatus(r, 200);
        expect(r.data.some((t) => t.tagDefinitionId === need(S.tagDefinitionId, 'the tag definition')), 'the tag is not listed');
    });
}

async function untag(apiName, noun, api, objectId) {
    await check(`${apiName}.delete${noun}Tags`, 'untag', async () => {
        const r = await api[`delete${noun}Tags`](objectId(), BY, [need(S.tagDefinitionId, 'the tag definition')]);
        expectStatus(r, 204);
        const after = await api[`get${noun}Tags`](objectId());
        expect(!after.data.some((t) => t.tagDefinitionId === S.tagDefinitionId), 'the tag is still listed');
    });
}

function transactionBody(type, amount, extra = {}) {
    return { transactionType: type, amount, currency: 'USD', ...extra };
}

async function payments() {
    S.paymentKey = `js-pay-${RUN}`;
    S.authKey = `js-auth-${RUN}`;
    const auth = await check('AccountApi.processPayment', 'authorize', async () => {
        const r = await kb.account.processPayment(
            transactionBody('AUTHORIZE', 20, { paymentExternalKey: S.paymentKey, transactionExternalKey: S.authKey }),
            need(S.accountId, 'the account'), BY);
        expectStatus(r, 201);
        expectEqual(r.data.paymentExternalKey, S.paymentKey, 'paymentExternalKey');
        expectEqual(r.data.authAmount, 20, 'authAmount');
        expectEqual(r.data.transactions[0].status, 'SUCCESS', 'the transaction status');
        return r.data;
    });
    S.paymentId = auth && auth.paymentId;
    S.authTransactionId = auth && auth.transactions[0].transactionId;
    await check('PaymentApi.captureAuthorization', 'capture 5', async () => {
        const r = await kb.payment.captureAuthorization(
            { amount: 5, currency: 'USD', transactionExternalKey: `js-capture-${RUN}` }, need(S.paymentId, 'the payment'), BY);
        expectStatus(r, 201);
        expectEqual(r.data.capturedAmount, 5, 'capturedAmount');
    });
    await check('PaymentApi.captureAuthorizationByExternalKey', 'capture 5 more', async () => {
        need(S.paymentId, 'the payment');
        const r = await kb.payment.captureAuthorizationByExternalKey(
            { paymentExternalKey: S.paymentKey, amount: 5, currency: 'USD' }, BY);
        expectStatus(r, 201);
        expectEqual(r.data.capturedAmount, 10, 'capturedAmount');
    });
    await check('PaymentApi.refundPayment', 'refund 3', async () => {
        const r = await kb.payment.refundPayment({ amount: 3, currency: 'USD' }, need(S.paymentId, 'the payment'), BY);
        expectStatus(r, 201);
        expectEqual(r.data.refundedAmount, 3, 'refundedAmount');
    });
    await check('PaymentApi.refundPaymentByExternalKey', 'refund 2 more', async () => {
        need(S.paymentId, 'the payment');
        const r = await kb.payment.refundPaymentByExternalKey({ paymentExternalKey: S.paymentKey, amount: 2, currency: 'USD' }, BY);
        expectStatus(r, 201);
        expectEqual(r.data.refundedAmount, 5, 'refundedAmount');
    });
    S.purchaseKey = `js-purchase-${RUN}`;
    const purchase = await check('AccountApi.processPaymentByExternalKey', 'purchase', async () => {
        need(S.methodId, 'the default method');
        const r = await kb.account.processPaymentByExternalKey(
            transactionBody('PURCHASE', 12.5, { paymentExternalKey: S.purchaseKey, transactionExternalKey: `js-purchase-tx-${RUN}` }),
            S.accountKey, BY);
        expectStatus(r, 201);
        expectEqual(r.data.purchasedAmount, 12.5, 'purchasedAmount');
        return r.data;
    });
    S.purchaseId = purchase && purchase.paymentId;
    for (const [method, byKey] of [['PaymentApi.voidPayment', false], ['PaymentApi.voidPaymentByExternalKey', true]]) {
        const key = `js-void-${byKey ? 'key' : 'id'}-${RUN}`;
        const toVoid = await check(method, 'authorize a payment to void', async () => {
            const r = await kb.account.processPayment(
                transactionBody('AUTHORIZE', 4, { paymentExternalKey: key }), need(S.accountId, 'the account'), BY);
            expectStatus(r, 201);
            return r.data.paymentId;
        });
        await check(method, 'void', async () => {
            const r = byKey
                ? await kb.payment.voidPaymentByExternalKey({ paymentExternalKey: need(toVoid && key, 'the payment') }, BY)
                : await kb.payment.voidPayment({}, need(toVoid, 'the payment'), BY);
            expectStatus(r, 204);
            const after = await kb.payment.getPayment(toVoid);
            findTransaction(after.data, (t) => t.transactionType === 'VOID' && t.status === 'SUCCESS', 'successful VOID');
        });
    }
    await check('PaymentApi.getPayment', 'by id', async () => {
        const r = await kb.payment.getPayment(need(S.paymentId, 'the payment'));
        expectStatus(r, 200);
        expectEqual(r.data.paymentExternalKey, S.paymentKey, 'paymentExternalKey');
        expectEqual(r.data.transactions.length, 5, 'number of transactions');
    });
    await check('PaymentApi.getPaymentByExternalKey', 'by external key', async () => {
        const r = await kb.payment.getPaymentByExternalKey(S.paymentKey);
        expectStatus(r, 200);
        expectEqual(r.data.paymentId, need(S.paymentId, 'the payment'), 'paymentId');
    });
    await check('AccountApi.getPaymentsForAccount', 'list', async () => {
        const r = await kb.account.getPaymentsForAccount(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        expectEqual(r.data.length, 4, 'number of payments');
    });
    await check('PaymentApi.getPayments', 'a page', async () => {
        const r = await kb.payment.getPayments(0, 100);
        expectStatus(r, 200);
        expect(r.data.some((p) => p.paymentId === need(S.paymentId, 'the payment')), 'the payment is not on the page');
        expect(paginationTotal(r) >= 4, 'MaxNbRecords is below 4');
    });
    await check('PaymentApi.searchPayments', 'by external key', async () => {
        const r = await kb.payment.searchPayments(S.paymentKey);
        expectStatus(r, 200);
        expect(r.data.some((p) => p.paymentId === need(S.paymentId, 'the payment')), 'the payment is not found');
    });

    await customFieldsOn('PaymentApi', 'Payment', kb.payment, () => need(S.paymentId, 'the payment'), 'PAYMENT');
    await tagsOn('PaymentApi', 'Payment', kb.payment, () => need(S.paymentId, 'the payment'), 'PAYMENT');
    S.transactionFieldId = await customFieldsOn('PaymentTransactionApi', 'Transaction', kb.transaction,
        () => need(S.authTransactionId, 'the authorization'), 'TRANSACTION');
    await tagsOn('PaymentTransactionApi', 'Transaction', kb.transaction, () => need(S.authTransactionId, 'the authorization'), 'TRANSACTION');
}

/** Everything an account carries, then the account's whole record. */
async function accountWide() {
    // A field left on the account (the earlier one is deleted at the end).
    await check('AccountApi.getAllCustomFields', 'the account\'s and its objects\' fields', async () => {
        const r = await kb.account.getAllCustomFields(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        const types = new Set(r.data.map((f) => f.objectType));
        expect(types.has('ACCOUNT'), `no ACCOUNT field among ${[...types]}`);
        const only = await kb.account.getAllCustomFields(S.accountId, 'ACCOUNT');
        expect(only.data.every((f) => f.objectType === 'ACCOUNT'), 'objectType=ACCOUNT lists other objects\' fields');
    });
    await check('AccountApi.getAllTags', 'the account\'s and its objects\' tags', async () => {
        const r = await kb.account.getAllTags(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        const types = new Set(r.data.map((t) => t.objectType));
        for (const type of ['ACCOUNT', 'PAYMENT', 'TRANSACTION']) {
            expect(types.has(type), `no ${type} tag among ${[...types]}`);
        }
    });
    await check('CustomFieldApi.getCustomFields', 'a page', async () => {
        const r = await kb.customField.getCustomFields(0, 100);
        expectStatus(r, 200);
        expect(r.data.some((f) => f.customFieldId === need(S.accountFieldId, 'the account field')), 'the field is not on the page');
        expect(paginationTotal(r) >= 1, 'MaxNbRecords is 0');
    });
    await check('CustomFieldApi.searchCustomFields', 'by name', async () => {
        const r = await kb.customField.searchCustomFields(S.fieldName);
        expectStatus(r, 200);
        expect(r.data.some((f) => f.customFieldId === need(S.accountFieldId, 'the account field')), 'the field is not found');
    });
    await check('CustomFieldApi.searchCustomFieldsByTypeName', 'by type, name and value', async () => {
        const r = await kb.customField.searchCustomFieldsByTypeName('ACCOUNT', S.fieldName, 'two');
        expectStatus(r, 200);
        expect(r.data.some((f) => f.customFieldId === need(S.accountFieldId, 'the account field')), 'the field is not found');
    });
    await check('TagApi.getTags', 'a page', async () => {
        const r = await kb.tag.getTags(0, 100);
        expectStatus(r, 200);
        expect(r.data.some((t) => t.tagId === need(S.accountTagId, 'the account tag')), 'the tag is not on the page');
        expect(paginationTotal(r) >= 3, 'MaxNbRecords is below 3');
    });
    await check('TagApi.searchTags', 'by definition name', async () => {
        const r = await kb.tag.searchTags(S.tagName);
        expectStatus(r, 200);
        expect(r.data.some((t) => t.tagId === need(S.accountTagId, 'the account tag')), 'the tag is not found');
    });

    let emailId;
    await check('AccountApi.getAccountAuditLogs', 'the account\'s audit logs', async () => {
        const r = await kb.account.getAccountAuditLogs(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        expect(r.data.some((l) => l.objectType === 'ACCOUNT' && l.changeType === 'INSERT' && l.objectId === S.accountId),
            'no INSERT of the account');
        const email = r.data.find((l) => l.objectType === 'ACCOUNT_EMAIL');
        expect(email, 'no ACCOUNT_EMAIL audit log');
        emailId = email.objectId;
    });
    await check('AccountApi.getAccountAuditLogsWithHistory', 'with history', async () => {
        const r = await kb.account.getAccountAuditLogsWithHistory(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        expect(r.data.length >= 2, `${r.data.length} audit logs, expected the creation and the update`);
        expectEqual(r.data[0].history && r.data[0].history.externalKey, S.accountKey, 'the first history\'s externalKey');
    });
    await check('AccountApi.getAccountEmailAuditLogsWithHistory', 'the removed email\'s history', async () => {
        const r = await kb.account.getAccountEmailAuditLogsWithHistory(S.accountId, need(emailId, 'the email id'));
        expectStatus(r, 200);
        expect(r.data.length >= 2, `${r.data.length} audit logs, expected the addition and the removal`);
        expectEqual(r.data[0].history && r.data[0].history.email, S.email, 'the history\'s email');
    });
    await check('ExportApi.exportDataForAccount', 'export', async () => {
        const r = await kb.exportApi.exportDataForAccount(need(S.accountId, 'the account'), BY);
        expectStatus(r, 200);
        expect(typeof r.data === 'string' && r.data.includes('-- accounts '), 'no "-- accounts " table in the export');
        expect(r.data.includes(S.accountId), 'the export does not carry the account id');
    });

    // Clean up what the listings needed.
    await check('AccountApi.deleteAccountCustomFields', 'delete', async () => {
        const r = await kb.account.deleteAccountCustomFields(need(S.accountId, 'the account'), BY, [need(S.accountFieldId, 'the field')]);
        expectStatus(r, 204);
        const after = await kb.account.getAccountCustomFields(S.accountId);
        expect(!after.data.some((f) => f.customFieldId === S.accountFieldId), 'the field is still listed');
    });
    await untag('AccountApi', 'Account', kb.account, () => need(S.accountId, 'the account'));
    await untag('PaymentApi', 'Payment', kb.payment, () => need(S.paymentId, 'the payment'));
    await untag('PaymentTransactionApi', 'Transaction', kb.transaction, () => need(S.authTransactionId, 'the authorization'));
    await check('TagDefinitionApi.deleteTagDefinition', 'delete', async () => {
        const r = await kb.tagDefinition.deleteTagDefinition(need(S.tagDefinitionId, 'the tag definition'), BY);
        expectStatus(r, 204);
        await expectRefused(() => kb.tagDefinition.getTagDefinition(S.tagDefinitionId), 404);
    });
}

async function tenantKeyValues() {
    const plugin = `js-plugin-${RUN}`;
    const text = 'ferrobill.js.check=true\napiKey=sk_test_js';
    await check('TenantApi.uploadPluginConfiguration', 'upload', async () => {
        const r = await kb.tenant.uploadPluginConfiguration(text, plugin, BY);
        expectStatus(r, 201);
        expectEqual(r.data.key, `PLUGIN_CONFIG_${plugin}`, 'key');
        expectEqual(r.data.values[0], text, 'the value');
    });
    await check('TenantApi.getPluginConfiguration', 'get', async () => {
        const r = await kb.tenant.getPluginConfiguration(plugin);
        expectStatus(r, 200);
        expectEqual(r.data.values[0], text, 'the value');
    });
    await check('TenantApi.getAllPluginConfiguration', 'search by prefix', async () => {
        const r = await kb.tenant.getAllPluginConfiguration('PLUGIN_CONFIG_');
        expectStatus(r, 200);
        expect(r.data.some((kv) => kv.key === `PLUGIN_CONFIG_${plugin}`), 'the configuration is not found');
    });
    await check('TenantApi.deletePluginConfiguration', 'delete', async () => {
        const r = await kb.tenant.deletePluginConfiguration(plugin, BY);
        expectStatus(r, 204);
        const after = await kb.tenant.getPluginConfiguration(plugin);
        expectEqual(after.data.values.length, 0, 'values after the deletion');
    });

    const machine = '<?xml version="1.0" encoding="UTF-8"?><stateMachineConfig/>';
    await check('TenantApi.uploadPluginPaymentStateMachineConfig', 'upload', async () => {
        const r = await kb.tenant.uploadPluginPaymentStateMachineConfig(machine, plugin, BY);
        expectStatus(r, 201);
        expectEqual(r.data.values[0], machine, 'the value');
    });
    await check('TenantApi.getPluginPaymentStateMachineConfig', 'get', async () => {
        const r = await kb.tenant.getPluginPaymentStateMachineConfig(plugin);
        expectStatus(r, 200);
        expectEqual(r.data.values[0], machine, 'the value');
    });
    await check('TenantApi.deletePluginPaymentStateMachineConfig', 'delete', async () => {
        const r = await kb.tenant.deletePluginPaymentStateMachineConfig(plugin, BY);
        expectStatus(r, 204);
    });

    const config = JSON.stringify({ 'org.killbill.payment.retry.days': '8,8,8' });
    await check('TenantApi.uploadPerTenantConfiguration', 'upload', async () => {
        const r = await kb.tenant.uploadPerTenantConfiguration(config, BY);
        expectStatus(r, 201);
        expectEqual(r.data.values[0], config, 'the value');
    });
    await check('TenantApi.getPerTenantConfiguration', 'get', async () => {
        const r = await kb.tenant.getPerTenantConfiguration();
        expectStatus(r, 200);
        expectEqual(r.data.key, 'PER_TENANT_CONFIG', 'key');
    });
    await check('TenantApi.deletePerTenantConfiguration', 'delete', async () => {
        const r = await kb.tenant.deletePerTenantConfiguration(BY);
        expectStatus(r, 204);
    });

    const key = `js_key_${RUN}`;
    await check('TenantApi.insertUserKeyValue', 'insert', async () => {
        const r = await kb.tenant.insertUserKeyValue('first', key, BY);
        expectStatus(r, 201);
        expectEqual(r.data.key, key, 'key');
    });
    await check('TenantApi.getUserKeyValue', 'get', async () => {
        const r = await kb.tenant.getUserKeyValue(key);
        expectStatus(r, 200);
        expect(r.data.values.includes('first'), `values ${JSON.stringify(r.data.values)} lack "first"`);
    });
    await check('TenantApi.deleteUserKeyValue', 'delete', async () => {
        const r = await kb.tenant.deleteUserKeyValue(key, BY);
        expectStatus(r, 204);
        const after = await kb.tenant.getUserKeyValue(key);
        expectEqual(after.data.values.length, 0, 'values after the deletion');
    });

    // A callback nobody listens on (the discard port): registered, read and deleted at once.
    const callback = 'http://127.0.0.1:9/ferrobill-js-client-check';
    await check('TenantApi.registerPushNotificationCallback', 'register', async () => {
        const r = await kb.tenant.registerPushNotificationCallback(BY, callback);
        expectStatus(r, 201);
        expectEqual(r.data.values[0], callback, 'the callback');
    });
    await check('TenantApi.getPushNotificationCallbacks', 'get', async () => {
        const r = await kb.tenant.getPushNotificationCallbacks();
        expectStatus(r, 200);
        expectEqual(r.data.key, 'PUSH_NOTIFICATION_CB', 'key');
    });
    await check('TenantApi.deletePushNotificationCallbacks', 'delete', async () => {
        const r = await kb.tenant.deletePushNotificationCallbacks(BY);
        expectStatus(r, 204);
    });
}

async function security() {
    const role = `js_role_${RUN}`;
    const user = `js_user_${RUN}`;
    await check('SecurityApi.addRoleDefinition', 'a role that may only use accounts', async () => {
        const r = await kb.security.addRoleDefinition({ role, permissions: ['account:*'] }, BY);
        expectStatus(r, 201);
        expectEqual(r.data.role, role, 'role');
    });
    await check('SecurityApi.getRoleDefinition', 'get', async () => {
        const r = await kb.security.getRoleDefinition(role);
        expectStatus(r, 200);
        expect(r.data.permissions.includes('account:*'), `permissions ${JSON.stringify(r.data.permissions)} lack account:*`);
    });
    await check('SecurityApi.updateRoleDefinition', 'add tenant key-values', async () => {
        const r = await kb.security.updateRoleDefinition({ role, permissions: ['account:*', 'tenant_kvs:*'] }, BY);
        expectStatus(r, 204);
        const after = await kb.security.getRoleDefinition(role);
        expect(after.data.permissions.includes('tenant_kvs:*'), 'the new permission is not listed');
    });
    await check('SecurityApi.addUserRoles', 'add a user', async () => {
        const r = await kb.security.addUserRoles({ username: user, password: 'first-password', roles: [role] }, BY);
        expectStatus(r, 201);
        expectEqual(r.data.username, user, 'username');
    });
    await check('SecurityApi.getUserRoles', 'get', async () => {
        const r = await kb.security.getUserRoles(user);
        expectStatus(r, 200);
        expect(r.data.roles.includes(role), `roles ${JSON.stringify(r.data.roles)} lack ${role}`);
    });

    const asUser = (password) => apis(configuration({ user, password }));
    await check('SecurityApi.getCurrentUserPermissions', 'as the new user', async () => {
        const r = await asUser('first-password').security.getCurrentUserPermissions();
        expectStatus(r, 200);
        // The role's permissions as the realm holds them, wildcards unexpanded, as Kill Bill's.
        expect(r.data.includes('account:*') && r.data.includes('tenant_kvs:*') && !r.data.some((p) => p.startsWith('payment')),
            `permissions ${JSON.stringify(r.data)}, expected account:* and tenant_kvs:*`);
    });
    await check('SecurityApi.getCurrentUserSubject', 'as the new user', async () => {
        const r = await asUser('first-password').security.getCurrentUserSubject();
        expectStatus(r, 200);
        expectEqual(r.data.principal, user, 'principal');
        expectEqual(r.data.isAuthenticated, true, 'isAuthenticated');
    });
    await check('AccountApi.getAccount', 'as a user with account:* only', async () => {
        const r = await asUser('first-password').account.getAccount(need(S.accountId, 'the account'));
        expectStatus(r, 200);
    });
    await check('AccountApi.processPayment', 'refused to a user with account:* only', async () => {
        await expectRefused(() => asUser('first-password').account.processPayment(
            transactionBody('PURCHASE', 1), need(S.accountId, 'the account'), BY),
        401, 'org.apache.shiro.authz.UnauthorizedException');
    });
    await check('SecurityApi.updateUserPassword', 'change the password', async () => {
        const r = await kb.security.updateUserPassword({ username: user, password: 'second-password', roles: [] }, user, BY);
        expectStatus(r, 204);
        const after = await asUser('second-password').security.getCurrentUserSubject();
        expectEqual(after.data.principal, user, 'principal with the new password');
        await expectRefused(() => asUser('first-password').security.getCurrentUserSubject(), 401);
    });
    await check('SecurityApi.updateUserRoles', 'take the role away', async () => {
        const r = await kb.security.updateUserRoles({ username: user, password: 'second-password', roles: [] }, user, BY);
        expectStatus(r, 204);
        const after = await kb.security.getUserRoles(user);
        expectEqual(after.data.roles.length, 0, 'roles after the update');
    });
    await check('SecurityApi.invalidateUser', 'delete the user', async () => {
        const r = await kb.security.invalidateUser(user, BY);
        expectStatus(r, 204);
        await expectRefused(() => asUser('second-password').security.getCurrentUserSubject(), 401);
    });
}

async function operations() {
    await check('NodesInfoApi.getNodesInfo', 'the nodes', async () => {
        const r = await kb.nodesInfo.getNodesInfo();
        expectStatus(r, 200);
        expect(r.data.length >= 1, 'no node');
        expect(typeof r.data[0].nodeName === 'string' && typeof r.data[0].kbVersion === 'string',
            `a node without nodeName or kbVersion: ${JSON.stringify(r.data[0]).slice(0, 200)}`);
    });
    await check('PluginInfoApi.getPluginsInfo', 'the plugins', async () => {
        const r = await kb.pluginInfo.getPluginsInfo();
        expectStatus(r, 200);
        expectArray(r.data, 'the plugins');
    });
    await check('AdminApi.invalidatesCache', 'every cache', async () => {
        const r = await kb.admin.invalidatesCache();
        expectStatus(r, 204);
    });
    await check('AdminApi.invalidatesCache', 'one cache by name', async () => {
        const r = await kb.admin.invalidatesCache('tenant-kv');
        expectStatus(r, 204);
    });
    await check('AdminApi.invalidatesCacheByAccount', 'an account\'s', async () => {
        const r = await kb.admin.invalidatesCacheByAccount(need(S.accountId, 'the account'));
        expectStatus(r, 204);
    });
    await check('AdminApi.invalidatesCacheByTenant', 'the tenant\'s', async () => {
        const r = await kb.admin.invalidatesCacheByTenant();
        expectStatus(r, 204);
    });
    await check('AdminApi.getQueueEntries', 'the account\'s queue entries', async () => {
        const r = await kb.admin.getQueueEntries(need(S.accountId, 'the account'));
        expectStatus(r, 200);
        expect(r.data && typeof r.data === 'object', 'not a JSON object');
    });
}

// ---------------------------------------------------------------------------------------------
// Operations of issue 14 that may not be served yet: each is run only when GET /swagger.json
// lists it (method and path as in Kill Bill's description).

/** A purchase whose transaction the admin API turns PENDING, for the completion operations. */
async function pendingPurchase(method, served, label) {
    if (!served.has('PUT /1.0/kb/admin/payments/{paymentId}/transactions/{paymentTransactionId}')) {
        throw new Mismatch('not run: making a transaction PENDING needs AdminApi.updatePaymentTransactionState');
    }
    const paymentKey = `js-${label}-${RUN}`;
    const transactionKey = `js-${label}-tx-${RUN}`;
    const r = await kb.account.processPayment(
        transactionBody('PURCHASE', 6, { paymentExternalKey: paymentKey, transactionExternalKey: transactionKey }),
        need(S.accountId, 'the account'), BY);
    const paymentId = r.data.paymentId;
    const transactionId = r.data.transactions[0].transactionId;
    const fixed = await kb.admin.updatePaymentTransactionState({ transactionStatus: 'PENDING' }, paymentId, transactionId, BY);
    expectStatus(fixed, 204);
    return { paymentId, transactionId, paymentKey, transactionKey };
}

function pendingOperations() {
    return [
        ['PaymentTransactionApi.getPaymentByTransactionId', 'GET /1.0/kb/paymentTransactions/{transactionId}', async () => {
            const r = await kb.transaction.getPaymentByTransactionId(need(S.authTransactionId, 'the authorization'));
            expectStatus(r, 200);
            expectEqual(r.data.paymentId, S.paymentId, 'paymentId');
        }],
        ['PaymentTransactionApi.getPaymentByTransactionExternalKey', 'GET /1.0/kb/paymentTransactions', async () => {
            need(S.authTransactionId, 'the authorization');
            const r = await kb.transaction.getPaymentByTransactionExternalKey(S.authKey);
            expectStatus(r, 200);
            expectEqual(r.data.paymentId, S.paymentId, 'paymentId');
        }],
        ['PaymentTransactionApi.getTransactionAuditLogsWithHistory', 'GET /1.0/kb/paymentTransactions/{transactionId}/auditLogsWithHistory', async () => {
            const r = await kb.transaction.getTransactionAuditLogsWithHistory(need(S.authTransactionId, 'the authorization'));
            expectStatus(r, 200);
            expect(r.data.length >= 1 && r.data[0].changeType === 'INSERT', 'no INSERT audit log');
        }],
        ['PaymentApi.getPaymentAuditLogsWithHistory', 'GET /1.0/kb/payments/{paymentId}/auditLogsWithHistory', async () => {
            const r = await kb.payment.getPaymentAuditLogsWithHistory(need(S.paymentId, 'the payment'));
            expectStatus(r, 200);
            expect(r.data.length >= 1 && r.data[0].changeType === 'INSERT', 'no INSERT audit log');
        }],
        ['PaymentApi.createComboPayment', 'POST /1.0/kb/payments/combo', async () => {
            // The second call names the same account and method (by external keys): both are
            // reused, not created again.
            const account = { externalKey: `js-combo-${RUN}`, name: 'JS combo', currency: 'USD' };
            const combo = (amount) => kb.payment.createComboPayment({
                account,
                paymentMethod: { pluginName: '__EXTERNAL_PAYMENT__', externalKey: `js-combo-pm-${RUN}` },
                transaction: transactionBody('PURCHASE', amount),
            }, BY);
            const first = await combo(7);
            expectStatus(first, 201);
            expectEqual(first.data.purchasedAmount, 7, 'purchasedAmount');
            const second = await combo(8);
            expectStatus(second, 201);
            expectEqual(second.data.accountId, first.data.accountId, 'the second combo payment\'s accountId');
            expectEqual(second.data.paymentMethodId, first.data.paymentMethodId, 'the second combo payment\'s paymentMethodId');
        }],
        ['PaymentApi.chargebackPayment', 'POST /1.0/kb/payments/{paymentId}/chargebacks', async () => {
            const r = await kb.payment.chargebackPayment(
                { amount: 2, currency: 'USD', transactionExternalKey: `js-cb-${RUN}` }, need(S.purchaseId, 'the purchase'), BY);
            expectStatus(r, 201);
            findTransaction(r.data, (t) => t.transactionType === 'CHARGEBACK' && t.status === 'SUCCESS', 'successful CHARGEBACK');
            S.chargebackKey = `js-cb-${RUN}`;
        }],
        // A reversal leaves the chargeback PAYMENT_FAILURE, which Kill Bill answers as for any
        // transaction ending so: 402, PaymentApiException "Payment decline by gateway. Error
        // message: null". The payment then refuses further chargebacks (CHARGEBACK_FAILED), so
        // the by-key pair works on a purchase of its own.
        ['PaymentApi.chargebackReversalPayment', 'POST /1.0/kb/payments/{paymentId}/chargebackReversals', async () => {
            const paymentId = need(S.purchaseId, 'the purchase');
            await expectRefused(() => kb.payment.chargebackReversalPayment(
                { transactionExternalKey: need(S.chargebackKey, 'the chargeback') }, paymentId, BY),
            402, 'org.killbill.billing.payment.api.PaymentApiException');
            const after = await kb.payment.getPayment(paymentId);
            findTransaction(after.data, (t) => t.transactionType === 'CHARGEBACK' && t.status === 'PAYMENT_FAILURE', 'reversed CHARGEBACK');
        }],
        ['PaymentApi.chargebackPaymentByExternalKey', 'POST /1.0/kb/payments/chargebacks', async () => {
            S.chargebackPaymentKey = `js-purchase-cb-${RUN}`;
            const purchase = await kb.account.processPayment(
                transactionBody('PURCHASE', 9, { paymentExternalKey: S.chargebackPaymentKey }), need(S.accountId, 'the account'), BY);
            expectStatus(purchase, 201);
            const r = await kb.payment.chargebackPaymentByExternalKey(
                { paymentExternalKey: S.chargebackPaymentKey, amount: 1, currency: 'USD', transactionExternalKey: `js-cb-key-${RUN}` }, BY);
            expectStatus(r, 201);
            findTransaction(r.data, (t) => t.transactionExternalKey === `js-cb-key-${RUN}` && t.status === 'SUCCESS', 'successful chargeback by key');
            S.chargebackByKey = `js-cb-key-${RUN}`;
        }],
        ['PaymentApi.chargebackReversalPaymentByExternalKey', 'POST /1.0/kb/payments/chargebackReversals', async () => {
            const transactionKey = need(S.chargebackByKey, 'the chargeback by key');
            await expectRefused(() => kb.payment.chargebackReversalPaymentByExternalKey(
                { paymentExternalKey: S.chargebackPaymentKey, transactionExternalKey: transactionKey }, BY),
            402, 'org.killbill.billing.payment.api.PaymentApiException');
            const after = await kb.payment.getPaymentByExternalKey(S.chargebackPaymentKey);
            findTransaction(after.data, (t) => t.transactionExternalKey === transactionKey && t.status === 'PAYMENT_FAILURE', 'reversed chargeback by key');
        }],
        ['AdminApi.updatePaymentTransactionState', 'PUT /1.0/kb/admin/payments/{paymentId}/transactions/{paymentTransactionId}', async (served) => {
            const pending = await pendingPurchase('AdminApi.updatePaymentTransactionState', served, 'fix');
            const after = await kb.payment.getPayment(pending.paymentId);
            expectEqual(after.data.transactions[0].status, 'PENDING', 'the transaction status after the fix');
        }],
        ['PaymentTransactionApi.notifyStateChanged', 'POST /1.0/kb/paymentTransactions/{transactionId}', async (served) => {
            const pending = await pendingPurchase('PaymentTransactionApi.notifyStateChanged', served, 'notify');
            const r = await kb.transaction.notifyStateChanged({ paymentId: pending.paymentId, status: 'SUCCESS' }, pending.transactionId, BY);
            expectStatus(r, 201);
            expectEqual(findTransaction(r.data, (t) => t.transactionId === pending.transactionId, 'the notified transaction').status,
                'SUCCESS', 'the notified transaction\'s status');
        }],
        ['PaymentApi.completeTransaction', 'PUT /1.0/kb/payments/{paymentId}', async (served) => {
            const pending = await pendingPurchase('PaymentApi.completeTransaction', served, 'complete');
            const r = await kb.payment.completeTransaction(
                { transactionId: pending.transactionId, amount: 6, currency: 'USD' }, pending.paymentId, BY);
            expectStatus(r, 204);
            const after = await kb.payment.getPayment(pending.paymentId);
            expectEqual(after.data.transactions[0].status, 'SUCCESS', 'the completed transaction\'s status');
        }],
        ['PaymentApi.completeTransactionByExternalKey', 'PUT /1.0/kb/payments', async (served) => {
            const pending = await pendingPurchase('PaymentApi.completeTransactionByExternalKey', served, 'complete-key');
            const r = await kb.payment.completeTransactionByExternalKey({
                paymentExternalKey: pending.paymentKey, transactionExternalKey: pending.transactionKey, amount: 6, currency: 'USD',
            }, BY);
            expectStatus(r, 204);
            const after = await kb.payment.getPayment(pending.paymentId);
            expectEqual(after.data.transactions[0].status, 'SUCCESS', 'the completed transaction\'s status');
        }],
        ['PaymentApi.cancelScheduledPaymentTransactionById', 'DELETE /1.0/kb/payments/{paymentTransactionId}/cancelScheduledPaymentTransaction', async () => {
            // Nothing is scheduled without control plugins: Kill Bill answers 204 and changes nothing.
            const r = await kb.payment.cancelScheduledPaymentTransactionById(need(S.authTransactionId, 'the authorization'), BY);
            expectStatus(r, 204);
        }],
        ['PaymentApi.cancelScheduledPaymentTransactionByExternalKey', 'DELETE /1.0/kb/payments/cancelScheduledPaymentTransaction', async () => {
            need(S.authTransactionId, 'the authorization');
            const r = await kb.payment.cancelScheduledPaymentTransactionByExternalKey(S.authKey, BY);
            expectStatus(r, 204);
        }],
        ['PaymentGatewayApi.buildFormDescriptor', 'POST /1.0/kb/paymentGateways/hosted/form/{accountId}', async () => {
            const r = await kb.gateway.buildFormDescriptor({ formFields: [] }, need(S.accountId, 'the account'), BY);
            expectStatus(r, 200);
            expectEqual(r.data.kbAccountId, S.accountId, 'kbAccountId');
        }],
        ['PaymentGatewayApi.processNotification', 'POST /1.0/kb/paymentGateways/notification/{pluginName}', async () => {
            const r = await kb.gateway.processNotification('{}', '__EXTERNAL_PAYMENT__', BY);
            expect(r.status >= 200 && r.status < 300, `status ${r.status}`);
        }],
    ];
}

async function pending() {
    let served;
    try {
        served = await servedOperations();
    } catch (error) {
        for (const [method] of pendingOperations()) skipped.set(method, `GET /swagger.json failed: ${describe(error)}`);
        return;
    }
    for (const [method, operation, body] of pendingOperations()) {
        if (!served.has(operation)) {
            skipped.set(method, `${operation} is not in /swagger.json`);
            continue;
        }
        await check(method, operation, () => body(served));
    }
}

// ---------------------------------------------------------------------------------------------

/** Waits for the server to answer its healthcheck (any status: up is enough). */
async function waitForServer() {
    const deadline = Date.now() + WAIT_SECONDS * 1000;
    for (;;) {
        try {
            await globalAxios.get(`${BASE}/1.0/healthcheck`, { timeout: 5000, validateStatus: () => true });
            return;
        } catch (error) {
            if (Date.now() > deadline) {
                throw new Error(`${BASE} did not answer /1.0/healthcheck within ${WAIT_SECONDS} s: ${describe(error)}`);
            }
            await new Promise((resolve) => setTimeout(resolve, 500));
        }
    }
}

async function main() {
    if (WAIT_SECONDS > 0) await waitForServer();
    console.log(`Kill Bill's JavaScript client (killbill ${require('killbill/package.json').version}, axios ${require('axios/package.json').version}) against ${BASE}, run ${RUN}`);
    await tenants();
    await accounts();
    await paymentMethods();
    await payments();
    await accountWide();
    await tenantKeyValues();
    await security();
    await operations();
    await pending();

    const failed = [...outcomes].filter(([, o]) => o.failures.length > 0);
    const passed = [...outcomes].filter(([, o]) => o.failures.length === 0);
    for (const [method, o] of passed) console.log(`pass ${method} (${o.checks} check${o.checks > 1 ? 's' : ''})`);
    for (const [method, reason] of skipped) console.log(`skip ${method}: ${reason}`);
    for (const [method, o] of failed) {
        console.log(`FAIL ${method}`);
        for (const failure of o.failures) console.log(`     ${failure}`);
    }
    console.log(`js-client: ${passed.length} passed, ${failed.length} failed, ${skipped.size} skipped`);
    if (failed.length > 0) {
        console.log(`failed methods: ${failed.map(([method]) => method).join(', ')}`);
    }
    return failed.length === 0 ? 0 : 1;
}

main().then(
    (status) => process.exit(status),
    (error) => {
        console.error(`js client check stopped: ${describe(error)}`);
        process.exit(2);
    },
);
