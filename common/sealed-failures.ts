/**
 * The failure converter of an encrypting process (client/codec.ts): a
 * failure's message and stack trace (which can carry dmctl's or a VIP
 * provider's stderr) go into an encoded payload, so with encryption on the
 * server keeps only "Encoded failure". Loaded by path (`failureConverterPath`)
 * because the workflow sandbox converts workflow failures itself.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
