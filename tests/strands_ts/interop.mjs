// Cross-language snapshot test support: the Strands TypeScript SDK's newer SessionManager on its S3
// Storage, against the bucket the Python tests use. Driven by tests/test_strands.py.
//
//   node interop.mjs write|read   with ASM_S3_ENDPOINT, ASM_S3_BUCKET, ASM_S3_PREFIX, ASM_S3_KEY,
//                                 ASM_S3_SECRET, ASM_SESSION_ID; write takes the messages as JSON on stdin;
//                                 read prints the restored messages as JSON.
import { Agent, SessionManager } from '@strands-agents/sdk'
import { S3Storage } from '@strands-agents/sdk/storage'
import { S3Client } from '@aws-sdk/client-s3'

const env = process.env
const client = new S3Client({
  endpoint: env.ASM_S3_ENDPOINT,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: env.ASM_S3_KEY, secretAccessKey: env.ASM_S3_SECRET },
})
const storage = new S3Storage(env.ASM_S3_BUCKET, { prefix: env.ASM_S3_PREFIX, s3Client: client })
const sessionManager = new SessionManager({ sessionId: env.ASM_SESSION_ID, storage })

async function stdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

const mode = process.argv[2]
if (mode === 'write') {
  const messages = JSON.parse(await stdin())
  const agent = new Agent({ id: 'agent', messages, sessionManager, printer: false })
  await agent.initialize()
  agent.appState.set('written_by', 'typescript')
  await sessionManager.saveSnapshot({ target: agent, isLatest: true })
} else if (mode === 'read') {
  const agent = new Agent({ id: 'agent', sessionManager, printer: false })
  await agent.initialize()
  const state = agent.appState.getAll()
  process.stdout.write(JSON.stringify({ messages: agent.messages.map((m) => m.toJSON()), state }))
} else {
  throw new Error(`unknown mode ${mode}`)
}
