// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* meshwarp features: what this kernel offers meshwarp, probed by loading tiny programs. */
#include <stdio.h>
#include <sys/utsname.h>
#include <json-c/json.h>

#include "cli.h"
#include "probe.h"

int mw_cmd_features(struct mw_opts *o, int argc, char **argv)
{
	const struct mw_feature *f;
	struct utsname u = {};
	int i, n, missing = 0;

	if (argc > 1) {
		fprintf(stderr, "usage: meshwarp features [-j]\n");
		return MW_EXIT_USAGE;
	}
	uname(&u);
	f = mw_features_probe(&n);
	if (o->json) {
		json_object *root = json_object_new_object(), *arr = json_object_new_array();

		json_object_object_add(root, "kernel", json_object_new_string(u.release));
		for (i = 0; i < n; i++) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "id", json_object_new_string(f[i].id));
			json_object_object_add(e, "feature", json_object_new_string(f[i].name));
			json_object_object_add(e, "present", json_object_new_boolean(f[i].present));
			json_object_object_add(e, "required", json_object_new_boolean(!f[i].optional));
			json_object_object_add(e, "needed_for", json_object_new_string(f[i].needed_for));
			json_object_object_add(e, "since", json_object_new_string(f[i].since));
			if (f[i].instead)
				json_object_object_add(e, "instead", json_object_new_string(f[i].instead));
			json_object_array_add(arr, e);
		}
		json_object_object_add(root, "features", arr);
		printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_SPACED));
		json_object_put(root);
	} else {
		printf("kernel %s\n", u.release);
		for (i = 0; i < n; i++) {
			printf("  %-8s %-48s %s (Linux %s+)\n",
			       f[i].present ? "yes" : (f[i].optional ? "no" : "MISSING"), f[i].name,
			       f[i].needed_for, f[i].since);
			if (!f[i].present && f[i].instead)
				printf("  %-8s %-48s instead: %s\n", "", "", f[i].instead);
		}
	}
	for (i = 0; i < n; i++)
		missing += !f[i].present && !f[i].optional;
	/* Exit 1 when meshwarp cannot run here, so scripts can ask. */
	return missing ? MW_EXIT_FAIL : MW_EXIT_OK;
}
