; A fake bzImage for `softkvm run -k --entry 16` tests: a boot sector with
; the setup header (boot.rst "THE REAL-MODE KERNEL HEADER", protocol 2.15)
; and one setup sector whose code, entered at 0x1020:0000 with DS = 0x1000,
; prints what a Linux setup would use: CS/DS/SS, type_of_loader, the command
; line (cmd_line_ptr), the initrd fields and the INT 15h E820 map, then
; powers off through the ACPI PM1a control port.
bits 16
org 0

SETUP_SECTS equ 2
    times 0x1f1 - ($ - $$) db 0
setup_sects:    db SETUP_SECTS          ; 0x1f1
root_flags:     dw 0
syssize:        dd 1
ram_size:       dw 0
vid_mode:       dw 0
root_dev:       dw 0
boot_flag:      dw 0xaa55               ; 0x1fe
; 0x200: the entry point (seg + 0x20):0 lands here.
jump:           db 0xeb, setup_start - 0x202
header:         db "HdrS"               ; 0x202
version:        dw 0x020f
realmode_swtch: dd 0
start_sys_seg:  dw 0x1000
kernel_version: dw 0
type_of_loader: db 0                    ; 0x210
loadflags:      db 0x01                 ; LOADED_HIGH
setup_move_size: dw 0x8000
code32_start:   dd 0x100000
ramdisk_image:  dd 0                    ; 0x218
ramdisk_size:   dd 0                    ; 0x21c
bootsect_kludge: dd 0
heap_end_ptr:   dw 0                    ; 0x224
ext_loader_ver: db 0
ext_loader_type: db 0
cmd_line_ptr:   dd 0                    ; 0x228
initrd_addr_max: dd 0x7fffffff
kernel_alignment: dd 0x200000
relocatable_kernel: db 1
min_alignment:  db 21
xloadflags:     dw 0
cmdline_size:   dd 2047
hardware_subarch: dd 0
hardware_subarch_data: dq 0
payload_offset: dd 0
payload_length: dd 0
setup_data:     dq 0
pref_address:   dq 0x1000000
init_size:      dd 0x1000
handover_offset: dd 0
kernel_info_offset: dd 0
header_end:                             ; 0x26c

setup_start:
    mov si, s_hello
    call puts
    mov si, s_cs
    call puts
    mov ax, cs
    call puthex16
    mov si, s_ds
    call puts
    mov ax, ds
    call puthex16
    mov si, s_ss
    call puts
    mov ax, ss
    call puthex16
    call newline
    mov si, s_loader
    call puts
    mov al, [type_of_loader]
    xor ah, ah
    call puthex16
    mov si, s_heap
    call puts
    mov ax, [heap_end_ptr]
    call puthex16
    call newline
    mov si, s_initrd
    call puts
    mov eax, [ramdisk_size]
    call puthex32
    call newline
    mov si, s_cmdline
    call puts
    push ds                     ; the command line at linear cmd_line_ptr
    mov ebx, [cmd_line_ptr]
    mov ax, bx
    and ax, 0xf
    mov si, ax
    shr ebx, 4
    mov ds, bx
.cmd:
    lodsb
    test al, al
    jz .cmd_done
    call putc
    jmp .cmd
.cmd_done:
    pop ds
    call newline

    xor ebx, ebx                ; INT 15h E820 until EBX = 0 or CF
    mov di, e820_buf
.e820:
    mov eax, 0xe820
    mov edx, 0x534d4150
    mov ecx, 20
    push ds
    pop es
    int 0x15
    jc .e820_done
    cmp eax, 0x534d4150
    jne .e820_done
    push ebx
    mov si, s_e820
    call puts
    mov eax, [e820_buf]
    call puthex32
    mov al, ' '
    call putc
    mov eax, [e820_buf + 8]
    call puthex32
    mov al, ' '
    call putc
    mov eax, [e820_buf + 16]
    call puthex32
    call newline
    pop ebx
    test ebx, ebx
    jnz .e820
.e820_done:
    mov ah, 0x88                ; another INT 15h function: unsupported, CF set
    int 0x15
    mov si, s_cf_set
    jc .cf
    mov si, s_cf_clear
.cf:
    call puts
    mov si, s_bye
    call puts
    mov dx, 0x604
    mov ax, (5 << 10) | (1 << 13)
    out dx, ax
    mov al, 0x7f
    out 0xf4, al
.hang:
    cli
    hlt
    jmp .hang

putc:
    push dx
    mov dx, 0x3f8
    out dx, al
    pop dx
    ret
newline:
    mov al, 10
    jmp putc
puts:                           ; DS:SI (setup segment)
    push ax
.next:
    lodsb
    test al, al
    jz .end
    call putc
    jmp .next
.end:
    pop ax
    ret
puthex16:                       ; AX
    push eax
    shl eax, 16
    mov cx, 4
    jmp puthex_digits
puthex32:                       ; EAX
    push eax
    mov cx, 8
puthex_digits:
    push edx
    mov edx, eax
.digit:
    rol edx, 4
    mov al, dl
    and al, 0xf
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '9' - 1
.out:
    call putc
    loop .digit
    pop edx
    pop eax
    ret

s_hello:    db "boot16 setup", 10, 0
s_cs:       db "cs ", 0
s_ds:       db " ds ", 0
s_ss:       db " ss ", 0
s_loader:   db "type_of_loader ", 0
s_heap:     db " heap_end_ptr ", 0
s_initrd:   db "ramdisk_size ", 0
s_cmdline:  db "cmdline ", 0
s_e820:     db "e820 ", 0
s_cf_set:   db "int15 88h: CF set", 10, 0
s_cf_clear: db "int15 88h: CF clear", 10, 0
s_bye:      db "bye", 10, 0
e820_buf:   times 20 db 0
    times (SETUP_SECTS + 1) * 512 - ($ - $$) db 0
; The "protected-mode kernel": never entered by this test.
    db 0xf4
