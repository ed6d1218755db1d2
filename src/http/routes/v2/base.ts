// GET /v2/: the API version check. Any caller with credentials or a token (even an anonymous one).
import { v2Resource, type RouteOf } from './route.js';

export const base = v2Resource<RouteOf<'base'>>({
  kind: 'base',
  needs: () => 'authenticated',
  methods: {
    GET: async ({ reply }) => reply.code(200).type('application/json').send('{}'),
    HEAD: async ({ reply }) => reply.code(200).type('application/json').send('{}'),
  },
});
