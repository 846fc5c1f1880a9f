export declare function progressBar(label: string): { update(done: number, total: number, extra?: string): void; done(): void };
