/* Intrusive doubly linked lists (after the Linux kernel's list.h). A list head is a node
 * that points to itself when the list is empty. */
#ifndef TENANTD_LIST_H
#define TENANTD_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct td_list {
    struct td_list *prev;
    struct td_list *next;
};

#define TD_LIST_INIT(name)                                                                         \
    {                                                                                              \
        &(name), &(name)                                                                           \
    }

static inline void td_list_init(struct td_list *l)
{
    l->prev = l;
    l->next = l;
}

static inline bool td_list_empty(const struct td_list *l)
{
    return l->next == l;
}

/* True when the node is linked into some list (nodes are kept initialised when unlinked). */
static inline bool td_list_linked(const struct td_list *n)
{
    return n->next != n;
}

static inline void td_list_insert_after(struct td_list *pos, struct td_list *n)
{
    n->prev = pos;
    n->next = pos->next;
    pos->next->prev = n;
    pos->next = n;
}

static inline void td_list_push_front(struct td_list *head, struct td_list *n)
{
    td_list_insert_after(head, n);
}

static inline void td_list_push_back(struct td_list *head, struct td_list *n)
{
    td_list_insert_after(head->prev, n);
}

static inline void td_list_remove(struct td_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    td_list_init(n);
}

/* Through void *: the member's alignment guarantees the container's. */
#define td_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define td_list_first(head, type, member)                                                          \
    (td_list_empty(head) ? NULL : td_container_of((head)->next, type, member))

/* Iterate while allowing removal of the current node. */
#define td_list_foreach_safe(pos, tmp, head)                                                       \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                               \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif
