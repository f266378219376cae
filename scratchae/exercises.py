"""Support for the lessons' "Try it" exercises: tell an untouched stub from a wrong answer.

A stub is a function whose body is ``raise NotImplementedError``. Running a whole notebook (as CI does) reaches it
untouched, and that must not fail the run; a student's wrong answer must fail loudly, with the check's message.
"""


def try_it(name, check):
    """Run ``check()`` for exercise ``name`` and print "<name>: correct" or "<name>: not attempted yet (...)".

    ``check`` calls the student's code and asserts on its result. NotImplementedError (the untouched stub) means
    "not attempted"; an AssertionError from a wrong answer is raised unchanged, so the student sees what differs.
    """
    try:
        check()
    except NotImplementedError:
        print(f"{name}: not attempted yet (replace `raise NotImplementedError` with your code, run the cell again)")
        return
    print(f"{name}: correct")
