/* wip/50_sharp.h — part of sam.h under development (merged into sam.h before release).
 * Included twice by sam.h: once with SAM__PART_DECL (public declarations, inside
 * the include guard) and once with SAM__PART_IMPL (implementation). */
#if defined(SAM__PART_DECL)
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#elif defined(SAM__PART_IMPL)

#endif
