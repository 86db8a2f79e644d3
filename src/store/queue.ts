// One Azure Storage Queue (Azurite's queue service locally and in tests), through
// @azure/storage-queue. Messages are JSON, base64-encoded as the Functions queue trigger
// reads them by default (host.json's messageEncoding). `consume` is what the Functions
// runtime does for a queue trigger, for `serve` and the tests: a message whose handler
// throws stays on the queue and comes back after its visibility timeout, with its dequeue
// count one higher.
import { QueueClient } from "@azure/storage-queue";
import type { TokenCredential } from "@azure/identity";

export type QueueTarget =
  | { connectionString: string; queueName: string }
  | { endpoint: string; credential: TokenCredential; queueName: string };

export interface Delivery {
  body: unknown;
  /** How many times the message has been delivered, this time included (the trigger's dequeueCount). */
  dequeueCount: number;
}

export class StorageQueue {
  private readonly client: QueueClient;
  private created: Promise<unknown> | undefined;

  constructor(target: QueueTarget) {
    this.client =
      "connectionString" in target
        ? new QueueClient(target.connectionString, target.queueName)
        : new QueueClient(`${target.endpoint.replace(/\/+$/, "")}/${target.queueName}`, target.credential);
  }

  get name(): string {
    return this.client.name;
  }

  /** Sends each body as one message. */
  async send(bodies: readonly unknown[]): Promise<void> {
    await this.ready();
    for (const body of bodies) await this.client.sendMessage(Buffer.from(JSON.stringify(body), "utf8").toString("base64"));
  }

  /**
   * Receives up to `max` visible messages and runs `handler` on each: deleted when it returns,
   * left to reappear after `visibilityTimeoutSeconds` when it throws. Returns how many it received.
   */
  async consume(
    handler: (delivery: Delivery) => Promise<void>,
    options: { max?: number; visibilityTimeoutSeconds?: number; onError?: (error: unknown, delivery: Delivery) => void } = {},
  ): Promise<number> {
    await this.ready();
    const { receivedMessageItems } = await this.client.receiveMessages({ numberOfMessages: options.max ?? 16, visibilityTimeout: options.visibilityTimeoutSeconds ?? 30 });
    for (const message of receivedMessageItems) {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.from(message.messageText, "base64").toString("utf8"));
      } catch {
        body = message.messageText; // the handler's schema rejects it
      }
      const delivery = { body, dequeueCount: message.dequeueCount };
      try {
        await handler(delivery);
      } catch (error) {
        options.onError?.(error, delivery);
        continue; // visible again after the timeout, as the Functions runtime leaves it
      }
      await this.client.deleteMessage(message.messageId, message.popReceipt);
    }
    return receivedMessageItems.length;
  }

  /** Messages waiting (approximate, as the service counts them). */
  async depth(): Promise<number> {
    await this.ready();
    return (await this.client.getProperties()).approximateMessagesCount ?? 0;
  }

  private ready(): Promise<unknown> {
    this.created ??= this.client.createIfNotExists().catch((error: unknown) => {
      this.created = undefined;
      throw error;
    });
    return this.created;
  }
}
