"""Output helpers shared by the modules."""


def say(text):
    print(text, flush=True)


def say_once(text):
    """say() for GLib.idle_add: runs once."""
    say(text)
    return False


def warn(text):
    print("warning: " + text, flush=True)


def structure_dict(structure):
    """The plain fields of a GstStructure (numbers, strings, booleans) as a dict."""
    if structure is None:
        return {}
    out = {}
    for i in range(structure.n_fields()):
        name = structure.nth_field_name(i)
        value = structure.get_value(name)
        if isinstance(value, (int, float, str, bool)):
            out[name] = value
    return out
